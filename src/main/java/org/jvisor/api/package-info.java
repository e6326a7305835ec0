/**
 * The VMM's control API: HTTP/1.1 with JSON bodies on a Unix socket ({@code jvisor run
 * --api-socket}), its routes and their OpenAPI document, and the client {@code jvisor ctl} uses.
 * Above {@code vmm}: every request becomes a call on {@link org.jvisor.vmm.Vm}.
 */
package org.jvisor.api;
