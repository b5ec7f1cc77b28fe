/* crc32c.h — CRC32C (Castagnoli): SSE4.2 instruction when the CPU has it, slicing-by-8 otherwise. */
#ifndef SINKD_CORE_CRC32C_H
#define SINKD_CORE_CRC32C_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * CRC32C with the reflected polynomial 0x82F63B78, initial value and final
 * xor 0xFFFFFFFF (the iSCSI / ext4 / LevelDB checksum). Start with crc = 0
 * and pass the previous result to continue over more bytes:
 *     crc32c(crc32c(0, a, n), b, m) == crc32c(0, a || b, n + m)
 * crc32c(0, "123456789", 9) == 0xE3069283. Thread-safe, no state.
 */
uint32_t crc32c(uint32_t crc, const void *data, size_t len);

/* The two implementations, exposed so tests can compare them. */
uint32_t crc32c_sw(uint32_t crc, const void *data, size_t len);
/* Only valid when crc32c_hw_available() returns true. */
uint32_t crc32c_hw(uint32_t crc, const void *data, size_t len);
bool crc32c_hw_available(void);

#endif
