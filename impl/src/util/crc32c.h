/* crc32c.h — CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), the
 * checksum of every Prometheus on-disk format: WAL records, chunk files,
 * index sections. Same value as Go's crc32.Checksum(b, crc32.MakeTable(crc32.Castagnoli)). */
#ifndef PL_UTIL_CRC32C_H
#define PL_UTIL_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* Continues crc (0 to start) over buf[0..n). Thread-safe (tables built once). */
uint32_t pl_crc32c(uint32_t crc, const void *buf, size_t n);

#endif
