#include "core/random.h"

#include <openssl/rand.h>
#include <stdlib.h>

void gw_random_hex(char *out, size_t nbytes) {
    static const char hex[] = "0123456789abcdef";
    unsigned char buf[64];
    if (nbytes > sizeof buf) nbytes = sizeof buf;
    if (RAND_bytes(buf, (int)nbytes) != 1) abort(); /* no entropy: no safe token either */
    for (size_t i = 0; i < nbytes; i++) {
        out[2 * i] = hex[buf[i] >> 4];
        out[2 * i + 1] = hex[buf[i] & 15];
    }
    out[2 * nbytes] = '\0';
}
