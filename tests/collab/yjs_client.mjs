// A real Yjs client (yjs + y-websocket, from frontend/package-lock.json) for the interop
// test. Usage: node yjs_client.mjs <frontend dir> <ws base url> <room> <token>
// It writes `node` into the `elements` map, waits until the Python side has written
// `python`, prints the map as JSON and exits 0; exits 1 after 10 s.
import { createRequire } from "node:module";
import path from "node:path";

const [frontend, base, room, token] = process.argv.slice(2);
// The packages live in the front-end's node_modules (one lock for the browser and this).
const require = createRequire(path.join(path.resolve(frontend), "package.json"));
const WebSocket = require("ws");
const Y = require("yjs");
const { WebsocketProvider } = require("y-websocket");
const doc = new Y.Doc();
const provider = new WebsocketProvider(base, room, doc, {
  WebSocketPolyfill: WebSocket,
  params: { token },
  disableBc: true,
});
provider.awareness.setLocalStateField("user", { name: "node" });
const elements = doc.getMap("elements");
const timer = setTimeout(() => {
  console.error("timed out; elements:", JSON.stringify(elements.toJSON()));
  process.exit(1);
}, 10000);
provider.on("sync", (synced) => {
  if (!synced) return;
  console.error("synced", JSON.stringify(doc.getMap("meta").toJSON()));
  doc.transact(() => elements.set("node", { type: "text", text: "来自 Node", n: 7 }));
});
const check = () => {
  if (elements.has("python")) {
    clearTimeout(timer);
    console.log(JSON.stringify({ meta: doc.getMap("meta").toJSON(), elements: elements.toJSON() }));
    // let the last update leave before closing
    setTimeout(() => { provider.destroy(); process.exit(0); }, 200);
  }
};
elements.observe(check);
check();
