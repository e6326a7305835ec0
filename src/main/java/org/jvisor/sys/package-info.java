/**
 * The only package that calls native code, through the FFM API: handles are looked up once,
 * wrapped in typed methods, and errno is kept on the exception. Depends on nothing.
 */
package org.jvisor.sys;
