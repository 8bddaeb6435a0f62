#include "store/keys_glob.h"

/* Bytes after s[i] that continue its UTF-8 sequence. */
static size_t continuation(const char *s, size_t i, size_t len) {
    size_t n = 0;
    while (i + 1 + n < len && ((unsigned char)s[i + 1 + n] & 0xC0) == 0x80)
        n++;
    return n;
}

int gw_glob_match(const char *glob, size_t glob_len, const char *s, size_t len) {
    size_t g = 0, i = 0;
    size_t star = (size_t)-1, resume = 0; /* the last '*' seen and where its match ends now */
    while (i < len) {
        if (g < glob_len && glob[g] == '*') {
            star = g++;
            resume = i;
        } else if (g < glob_len && glob[g] == '?') {
            i += 1 + continuation(s, i, len);
            g++;
        } else if (g < glob_len && glob[g] == s[i]) {
            g++;
            i++;
        } else if (star != (size_t)-1) {
            /* Let the last '*' take one character more and retry what follows it. */
            g = star + 1;
            resume += 1 + continuation(s, resume, len);
            i = resume;
        } else {
            return 0;
        }
    }
    while (g < glob_len && glob[g] == '*')
        g++;
    return g == glob_len;
}
