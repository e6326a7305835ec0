/** The {@code jvisor} command line (picocli). Talks to the layers below; nothing depends on it. */
package org.jvisor.cli;
