// Active health checks: the gateway finds an engine down, and back up, by itself, before any
// request has to fail on it or probe it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startSim, startGateway, gatewayConfig, waitFor } from './lib/harness.mjs';

test('an engine that stops answering its health path is ejected, and returns when it answers', async () => {
  const sim = await startSim(['--control-port', '0']);
  const gw = await startGateway(await gatewayConfig({
    channels: `  - name: checked
    base_url: ${sim.url}/v1
    health: {path: /health, interval_ms: 100, timeout_ms: 500, failures: 2, backoff_ms: 600000, max_backoff_ms: 600000}`,
    models: '  - {name: chat, channel: checked, upstream_model: sim-model}',
  }));
  const endpoint = async () => (await (await fetch(`${gw.adminUrl}/admin/channels`, {
    headers: { authorization: 'Bearer test-admin-token' },
  })).json()).channels[0].endpoints[0];
  try {
    await waitFor('a passing check', async () => (await endpoint()).requests > 0);
    assert.equal((await endpoint()).state, 'healthy');
    await sim.setFault('refuse'); // the engine is killed; no request is sent to it
    await waitFor('the ejection', async () => (await endpoint()).state === 'ejected');
    assert.equal((await endpoint()).last_error, 'health_check_failed');
    await sim.setFault('none');
    // the back-off is ten minutes: only a passing check can bring it back this soon
    await waitFor('the recovery', async () => (await endpoint()).state === 'healthy');
    await waitFor('the endpoint_recovered line', () => gw.lines().some((l) => l.event === 'endpoint_recovered'));
  } finally {
    await gw.stop();
    await sim.stop();
  }
});
