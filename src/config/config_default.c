/* The embedded default: `aigw serve` with no file answers at once from the built-in simulated
 * engine. `aigw serve --print-default-config > aigw.yaml` writes it out for editing. */
#include "config/load.h"

const char gw_default_config_yaml[] =
    "# aigw configuration. Reference: README.md, \"Configuration\".\n"
    "server:\n"
    "  workers: 0                     # 0: one worker thread per core\n"
    "  http:\n"
    "    listen: \"0.0.0.0:8080\"\n"
    "  https:\n"
    "    listen: \"0.0.0.0:8443\"\n"
    "    cert: var/tls/cert.pem\n"
    "    key: var/tls/key.pem\n"
    "    self_signed: true            # create this pair on first run when the files are missing\n"
    "  admin:\n"
    "    listen: \"127.0.0.1:9090\"\n"
    "    token: \"${AIGW_ADMIN_TOKEN:-}\"  # empty: a random token, printed at startup\n"
    "log:\n"
    "  access: stdout\n"
    "channels:\n"
    "  - name: local\n"
    "    type: openai\n"
    "    base_url: builtin:sim        # a real engine instead: http://127.0.0.1:8000/v1\n"
    "models:\n"
    "  - name: chat                   # the name callers put in \"model\"\n"
    "    channel: local\n"
    "  - name: embed\n"
    "    channel: local\n";
