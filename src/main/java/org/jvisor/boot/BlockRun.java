package org.jvisor.boot;

/** count file blocks from logical onwards stored at physical onwards. */
record BlockRun(long logical, long physical, long count) {}
