#ifndef AIGW_CORE_HTTP_DATE_H
#define AIGW_CORE_HTTP_DATE_H

/* The IMF-fixdate of now, formatted at most once a second per thread. */
const char *gw_http_date(void);

#endif
