/**
 * The machine state file: a self-describing container of named sections, and the guest's RAM.
 *
 * <p>Layout (little-endian): a 4096-byte header page ({@code "JVSTATE\0"}, u32 format version,
 * u32 header size); the sections' payloads one after another; RAM pages, each run of non-zero
 * pages at a page-aligned offset so that a restore maps them straight from the file; the index
 * (u32 count, then per section: u16 name length, UTF-8 name, u8 flags, u64 offset, u64 length,
 * u32 CRC32C of the payload); and a 24-byte trailer (u64 index offset, u32 index length, u32
 * index CRC32C, {@code "JVSTEND\0"}). A RAM section's payload is its table: u64 RAM size, u32
 * run count, then per run u64 guest address, u64 length and u64 file offset. Its CRC covers the
 * table, not the pages (checking gigabytes at restore would undo the lazy mapping).
 *
 * <p>Compatibility, the rule every later version keeps: the format version only rises when an
 * older reader could misread a file; a reader refuses a newer version by name. Sections are found
 * by name, so new ones can be added freely: a reader skips a section it does not know unless its
 * {@code required} flag is set, and refuses then, naming it. Section payloads (JSON records)
 * only gain fields, and a field missing from an older file takes its default.
 */
package org.jvisor.state;
