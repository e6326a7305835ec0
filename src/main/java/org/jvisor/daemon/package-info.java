/**
 * jvisord, the host daemon: it keeps VM definitions and API tokens in SQLite, runs one VMM
 * process per VM ({@code jvisor run --api-socket}) and supervises it, and serves the REST API
 * under {@code /api/v1} and Prometheus metrics. VMMs outlive the daemon: a new daemon finds them
 * again through the status files in each VM's run directory, as libvirt does.
 *
 * <p>Layering: this package drives VMMs only through their processes and control API
 * ({@link org.jvisor.api.ApiClient}); it never touches a machine directly.
 */
package org.jvisor.daemon;
