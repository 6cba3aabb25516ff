// The coaching Worker (build/index.js, copied beside this file as coach.mjs
// by tests/bench.mjs) with its CALLER_STATE binding wrapped
// so that every request to a state object is counted, by object and route,
// from the Worker's side. Used only by the bench's counting pass (tests/bench.mjs,
// section "operations"), never for timings. GET /__bench/do-requests answers
// the counts so far.
import { WorkerEntrypoint } from "cloudflare:workers";
import Coach, { CallerState } from "./coach.mjs";

export { CallerState };

const counts = {};

// workers-rs checks a binding's constructor name: the wrapper must be called this.
class DurableObjectNamespace {
  constructor(real) {
    this.real = real;
  }
  idFromName(name) {
    return this.real.idFromName(name);
  }
  getByName(name) {
    return this.stub(name, this.real.getByName(name));
  }
  get(id) {
    return this.stub(String(id), this.real.get(id));
  }
  stub(name, real) {
    const object = name === "deployment" ? "deployment" : "caller";
    return {
      fetch(input, init) {
        const route = new URL(typeof input === "string" ? input : input.url).pathname;
        const key = `${object} ${route}`;
        counts[key] = (counts[key] ?? 0) + 1;
        return real.fetch(input, init);
      },
    };
  }
}

export default class extends WorkerEntrypoint {
  fetch(request) {
    if (new URL(request.url).pathname === "/__bench/do-requests") return Response.json(counts);
    const env = { ...this.env };
    if (env.CALLER_STATE) env.CALLER_STATE = new DurableObjectNamespace(env.CALLER_STATE);
    return Coach.prototype.fetch.call({ env, ctx: this.ctx }, request);
  }
}
