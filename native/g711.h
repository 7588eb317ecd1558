/* ITU-T G.711 mu-law (PCMU) and A-law (PCMA) companding.
 *
 * Decoding is table driven (256 entries each); encoding follows the G.711 segment search.
 * Linear samples are 16-bit two's complement (G.711 itself carries 14/13 significant bits).
 */
#ifndef SC_G711_H
#define SC_G711_H

#include <stdint.h>

#define SC_PCMU_SILENCE 0xFF /* mu-law encoding of 0 (positive zero) */
#define SC_PCMA_SILENCE 0xD5 /* A-law encoding of 0 (even bits inverted) */

int16_t sc_ulaw_decode(uint8_t code);
uint8_t sc_ulaw_encode(int16_t sample);
int16_t sc_alaw_decode(uint8_t code);
uint8_t sc_alaw_encode(int16_t sample);

#endif
