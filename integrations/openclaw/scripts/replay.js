#!/usr/bin/env node
// Replays the payloads recorded from a real OpenClaw gateway (a good turn,
// then a turn where the model answered HTTP 500) through the plugin against a
// running openclaw-trace, then stops the plugin the way a gateway does and
// prints the plugin's counters as JSON.
//
//   node scripts/replay.js --endpoint http://127.0.0.1:9090 [--token SECRET]
//
// Exit status 0 when every event was sent, 1 otherwise.

import { parseArgs } from "node:util";
import plugin, { stats } from "../index.js";
import { FAILING_TURN, GatewayDouble, GOOD_TURN, loadStep } from "../testing/gateway-double.js";

const { values } = parseArgs({
  options: {
    endpoint: { type: "string", default: "http://127.0.0.1:9090" },
    token: { type: "string", default: "" },
  },
});

const gateway = new GatewayDouble({ pluginConfig: { endpoint: values.endpoint, token: values.token } });
gateway.load(plugin);
await gateway.startServices();
gateway.replay(GOOD_TURN);
gateway.replay(FAILING_TURN);
const stop = loadStep("hook:gateway_stop");
gateway.runHook("gateway_stop", stop.event, stop.ctx);
await gateway.stopServices();

const counters = stats();
process.stdout.write(`${JSON.stringify(counters)}\n`);
process.exitCode = counters.droppedTotal === 0 && counters.buffered === 0 ? 0 : 1;
