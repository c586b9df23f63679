/**
 * A supervised child for supervised.test.ts: its main thread is busy for
 * `SLOW_START_MS` before it says ready (as a host booting on a loaded node is), then it
 * answers heartbeats until told `{ t: "stall" }`, when it stops its main thread for good.
 * `{ t: "work", cpuMs }` holds the main thread for that much CPU time, then answers
 * `{ t: "worked", wallMs }`: on a starved CPU that takes far longer in wall time.
 */
import { guardChild, sendToParent } from "./guard.ts";

const until = Date.now() + Number(process.env.SLOW_START_MS ?? "0");
while (Date.now() < until) {
  // Busy: no event loop turn, so no ping could be answered.
}
guardChild((message: { t?: string; cpuMs?: number }) => {
  if (message.t === "stall") for (;;) {
    // The main thread is stuck: the heartbeat must find it hung.
  }
  if (message.t === "work") {
    const start = Date.now();
    const cpu = () => { const u = process.cpuUsage(); return (u.user + u.system) / 1000; };
    const until = cpu() + (message.cpuMs ?? 0);
    while (cpu() < until) {
      // CPU work on the main thread: no ping is answered meanwhile.
    }
    sendToParent({ t: "worked", wallMs: Date.now() - start });
  }
});
