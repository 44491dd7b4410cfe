// Drives one real socket.io-client for Huddle's tests: commands in on stdin, what the client
// sees out on stdout, one JSON object per line each way (see src/socketio.rs).
import { createInterface } from "node:readline";
import { io } from "socket.io-client";

const out = (obj) => process.stdout.write(JSON.stringify(obj) + "\n");
let socket = null;

function connect(cmd) {
  const options = {
    auth: cmd.token === undefined ? undefined : { token: cmd.token },
    reconnection: cmd.reconnection ?? false,
    reconnectionDelay: 100,
    reconnectionDelayMax: 500,
    upgrade: cmd.upgrade ?? true,
    forceNew: true,
  };
  if (cmd.transports) options.transports = cmd.transports;
  socket = io(cmd.url, options);
  socket.on("connect", () =>
    out({ type: "connect", id: socket.id, transport: socket.io.engine.transport.name }));
  socket.on("connect_error", (err) =>
    out({ type: "connect_error", message: err.message, data: err.data ?? null }));
  socket.on("disconnect", (reason) => out({ type: "disconnect", reason }));
  socket.io.on("reconnect", () => out({ type: "reconnect" }));
  socket.io.engine.on("upgrade", (t) => out({ type: "upgrade", transport: t.name }));
  socket.onAny((name, ...args) => out({ type: "event", name, data: args[0] ?? null }));
}

createInterface({ input: process.stdin }).on("line", (line) => {
  const cmd = JSON.parse(line);
  switch (cmd.op) {
    case "connect":
      connect(cmd);
      break;
    case "emit":
      if (cmd.ack) {
        socket.timeout(10000).emit(cmd.event, cmd.arg, (err, data) =>
          out(err ? { type: "ack", id: cmd.id, timeout: true } : { type: "ack", id: cmd.id, data }));
      } else if (cmd.arg === undefined) {
        socket.emit(cmd.event);
      } else {
        socket.emit(cmd.event, cmd.arg);
      }
      break;
    case "transport":
      out({ type: "transport", name: socket.io.engine?.transport?.name ?? null, connected: socket.connected });
      break;
    case "disconnect":
      socket.disconnect();
      break;
    case "exit":
      process.exit(0);
  }
}).on("close", () => process.exit(0));
