// @tursodatabase/serverless (npm), unmodified, against a workspace's database over HTTP.
//
// Run by tests/clients/test_node_clients.py with QUIRE_DB_URL, QUIRE_DB_TOKEN and
// QUIRE_DB_READONLY_TOKEN from `manage.py db_token demo --json`, on a server whose demo
// workspace holds the demo posts.
import assert from "node:assert/strict";
import { after, test } from "node:test";

import { connect, DatabaseError } from "@tursodatabase/serverless";

const url = process.env.QUIRE_DB_URL;
const authToken = process.env.QUIRE_DB_TOKEN;
const readOnlyToken = process.env.QUIRE_DB_READONLY_TOKEN;
const run = `turso-serverless-${process.pid}`; // this run's own tag names
const db = connect({ url, authToken });

after(() => db.close());

async function tagNames(prefix) {
  const rows = await db.all("SELECT name FROM posts_tag WHERE name LIKE ? ORDER BY name", [
    `${prefix}%`,
  ]);
  return rows.map((row) => row.name);
}

test("reads rows and columns", async () => {
  const rows = await db.all("SELECT id, title FROM posts_post ORDER BY id");
  assert.deepEqual(
    rows.map((row) => row.title),
    ["Welcome to Quire", "Quarterly planning", "Design review on Thursday"],
  );
  const one = await db.get("SELECT title FROM posts_post WHERE title = :title", {
    title: "Quarterly planning",
  });
  assert.equal(one.title, "Quarterly planning");
  const stmt = await db.prepare("SELECT id, title FROM posts_post WHERE id = ?"); // describe
  assert.deepEqual(
    stmt.columns().map((column) => column.name),
    ["id", "title"],
  );
  assert.equal((await stmt.get([rows[1].id])).title, "Quarterly planning");
});

test("writes in a batch, all or nothing", async () => {
  const results = await db.batch(
    [
      { sql: "INSERT INTO posts_tag (name) VALUES (?)", args: [`${run}-a`] },
      { sql: "INSERT INTO posts_tag (name) VALUES (?)", args: [`${run}-b`] },
    ],
    "immediate",
  );
  assert.equal(results.length, 2);
  assert.equal(results[0].rowsAffected, 1);
  assert.deepEqual(await tagNames(`${run}-`), [`${run}-a`, `${run}-b`]);

  await assert.rejects(
    db.batch(
      [
        { sql: "INSERT INTO posts_tag (name) VALUES (?)", args: [`${run}-c`] },
        { sql: "INSERT INTO posts_tag (name) VALUES (?)", args: [`${run}-a`] }, // unique
      ],
      "immediate",
    ),
    (error) => {
      assert.ok(error instanceof DatabaseError);
      assert.match(error.message, /UNIQUE/);
      return true;
    },
  );
  assert.deepEqual(await tagNames(`${run}-`), [`${run}-a`, `${run}-b`]); // no c
  assert.equal(db.inTransaction, false);
});

test("an interactive transaction commits", async () => {
  const insert = db.transactionAsync(async (tx, name) => {
    await tx.run("INSERT INTO posts_tag (name) VALUES (?)", [name]);
    const inside = await tx.get("SELECT count(*) AS n FROM posts_tag WHERE name = ?", [name]);
    assert.equal(inside.n, 1);
    assert.deepEqual(await tagNames(name), []); // the connection's own stream: not yet
  });
  await insert.immediate(`${run}-tx1`);
  assert.deepEqual(await tagNames(`${run}-tx1`), [`${run}-tx1`]);
});

test("an interactive transaction rolls back", async () => {
  const failing = db.transactionAsync(async (tx) => {
    await tx.run("INSERT INTO posts_tag (name) VALUES (?)", [`${run}-tx2`]);
    throw new Error("changed my mind");
  });
  await assert.rejects(failing(), /changed my mind/);
  assert.deepEqual(await tagNames(`${run}-tx2`), []);

  await db.exec("BEGIN"); // by hand, on the connection's own stream
  assert.equal(db.inTransaction, true);
  await db.run("INSERT INTO posts_tag (name) VALUES (?)", [`${run}-tx3`]);
  assert.deepEqual(await tagNames(`${run}-tx3`), [`${run}-tx3`]);
  await db.exec("ROLLBACK");
  assert.equal(db.inTransaction, false);
  assert.deepEqual(await tagNames(`${run}-tx3`), []);
});

test("typed values round-trip", async () => {
  const beyond = 2n ** 62n + 1n; // far past 2^53
  const bytes = new Uint8Array([0, 1, 127, 128, 255]);
  const text = "grüße, 日本語, emoji 🦆, quote \"";
  const exact = connect({ url, authToken });
  exact.defaultSafeIntegers(true);
  try {
    const row = await exact.get(
      "SELECT ? AS i, ? AS b, ? AS t, ? AS n, ? AS f, 9223372036854775807 AS max, x'00ff' AS lit",
      [beyond, bytes, text, null, 3.25],
    );
    assert.equal(row.i, beyond);
    assert.deepEqual(new Uint8Array(row.b), bytes);
    assert.equal(row.t, text);
    assert.equal(row.n, null);
    assert.equal(row.f, 3.25);
    assert.equal(row.max, 9223372036854775807n);
    assert.deepEqual(new Uint8Array(row.lit), new Uint8Array([0, 255]));
    const types = await exact.get(
      "SELECT typeof(?) AS i, typeof(?) AS b, typeof(?) AS t, typeof(?) AS n, typeof(?) AS f",
      [beyond, bytes, text, null, 3.25],
    );
    assert.deepEqual({ ...types }, { i: "integer", b: "blob", t: "text", n: "null", f: "real" });
  } finally {
    await exact.close();
  }
  await db.run("INSERT INTO posts_tag (name) VALUES (?)", [`${run}-${text}`]);
  assert.deepEqual(await tagNames(`${run}-grüße`), [`${run}-${text}`]);
});

test("a bad token is refused with a clear error", async () => {
  const stranger = connect({ url, authToken: "not-a-token" });
  await assert.rejects(stranger.all("SELECT 1"), (error) => {
    assert.ok(error instanceof DatabaseError);
    assert.match(error.message, /token is not valid/);
    return true;
  });
});

test("a syntax error is a clear error and the connection goes on", async () => {
  await assert.rejects(db.all("SELEC title FROM posts_post"), (error) => {
    assert.ok(error instanceof DatabaseError);
    assert.match(error.message, /syntax error/);
    return true;
  });
  assert.equal((await db.get("SELECT count(*) AS n FROM posts_post")).n, 3);
});

test("refused statements are clear errors", async () => {
  for (const sql of [
    "ATTACH DATABASE 'elsewhere.sqlite3' AS elsewhere",
    "CREATE TABLE mine (x)",
    "SELECT session_data FROM django_session",
    "PRAGMA writable_schema = ON",
    "UPDATE accounts_user SET role = 'admin'",
  ]) {
    await assert.rejects(db.all(sql), (error) => {
      assert.ok(error instanceof DatabaseError, `${sql}: ${error}`);
      assert.equal(error.code, "SQLITE_AUTH", sql);
      assert.match(error.message, /Refused: .* over the SQL API/, sql);
      return true;
    });
  }
});

test("a read-only token reads but cannot write", async () => {
  const reader = connect({ url, authToken: readOnlyToken });
  try {
    assert.equal((await reader.get("SELECT count(*) AS n FROM posts_post")).n, 3);
    await assert.rejects(
      reader.run("INSERT INTO posts_tag (name) VALUES (?)", [`${run}-ro`]),
      DatabaseError,
    );
  } finally {
    await reader.close();
  }
  assert.deepEqual(await tagNames(`${run}-ro`), []);
});
