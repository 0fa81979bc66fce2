// The Node side of bench/sqlapi.py: runs the statements it is told to and says how long
// they took. One JSON command a line on stdin, one JSON answer a line on stdout:
//
//   {"target": "quire" | "floor" | "file" | "datasette", "op": "point" | "rows20", "ids": [...]}
//   {"target": "quire", "op": "batch", "batches": [[title, ...], ...], "author": 1}
//
// "quire" is @libsql/client over HTTP with the database URL and token db_token printed;
// "floor" the same client against gunicorn answering a recorded reply (bench/sqlapi_floor.py);
// "file" is the same client on the same file in-process (libSQL's native driver, no
// HTTP); "datasette" is fetch() on Datasette's JSON API, parsing the JSON as the client
// does. Every answer is checked (one row, twenty rows, a hundred inserts).
import { createRequire } from "node:module";
import { createInterface } from "node:readline";

// The clients are installed once, for the client tests (make client-packages).
const require = createRequire(new URL("../tests/clients/package.json", import.meta.url));
const { createClient } = require("@libsql/client");

const config = JSON.parse(process.argv[2]);
const clients = {
  quire: createClient({ url: config.url, authToken: config.token }),
  floor: createClient({ url: config.floor, authToken: config.token }), // a recorded reply
  file: createClient({ url: `file:${config.file}` }),
};
const SQL = config.sql; // {point, rows20, insert}: the same text for every target

async function datasette(sql, id) {
  const query = new URLSearchParams({ sql: sql.replace("?", ":id"), id: String(id), _shape: "array" });
  const response = await fetch(`${config.datasette}?${query}`);
  if (!response.ok) throw new Error(`Datasette answered ${response.status}: ${await response.text()}`);
  return response.json();
}

async function statement(target, op, id) {
  const sql = SQL[op];
  if (target === "datasette") return datasette(sql, id);
  const result = await clients[target].execute({ sql, args: [BigInt(id)] });
  return result.rows;
}

const expected = { point: 1, rows20: 20 };

async function run(command) {
  const started = process.hrtime.bigint();
  if (command.op === "batch") {
    for (const titles of command.batches) {
      const results = await clients.quire.batch(
        titles.map((title) => ({
          sql: SQL.insert,
          args: [title, `Row **${title}** of a batch.`, BigInt(command.author)],
        })),
        "write",
      );
      if (results.length !== titles.length) throw new Error("batch lost statements");
    }
  } else {
    for (const id of command.ids) {
      const rows = await statement(command.target, command.op, id);
      if (rows.length !== expected[command.op]) {
        throw new Error(`${command.target} ${command.op}: ${rows.length} rows for id ${id}`);
      }
    }
  }
  return Number(process.hrtime.bigint() - started) / 1e9;
}

const lines = createInterface({ input: process.stdin });
for await (const line of lines) {
  if (!line.trim()) continue;
  const seconds = await run(JSON.parse(line));
  process.stdout.write(`${JSON.stringify({ seconds })}\n`);
}
for (const client of Object.values(clients)) client.close();
