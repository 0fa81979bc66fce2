// @libsql/client (npm), unmodified, against a workspace's database over HTTP.
//
// Run by tests/clients/test_node_clients.py with QUIRE_DB_URL and QUIRE_DB_TOKEN from
// `manage.py db_token demo --json`, on a server whose demo workspace holds the demo posts.
import assert from "node:assert/strict";
import { after, test } from "node:test";

import { createClient } from "@libsql/client";

const url = process.env.QUIRE_DB_URL;
const authToken = process.env.QUIRE_DB_TOKEN;
const readOnlyToken = process.env.QUIRE_DB_READONLY_TOKEN;
const run = `libsql-client-${process.pid}`; // this run's own tag names
const db = createClient({ url, authToken });
const big = createClient({ url, authToken, intMode: "bigint" });

after(() => {
  db.close();
  big.close();
});

async function tagNames(prefix) {
  const result = await db.execute({
    sql: "SELECT name FROM posts_tag WHERE name LIKE ? ORDER BY name",
    args: [`${prefix}%`],
  });
  return result.rows.map((row) => row.name);
}

test("reads rows and columns", async () => {
  const result = await db.execute("SELECT id, title FROM posts_post ORDER BY id");
  assert.deepEqual(result.columns, ["id", "title"]);
  assert.deepEqual(
    result.rows.map((row) => row.title),
    ["Welcome to Quire", "Quarterly planning", "Design review on Thursday"],
  );
  assert.equal(typeof result.rows[0].id, "number");
  assert.equal(result.rows[0][1], "Welcome to Quire"); // rows index by position too
  const named = await db.execute({
    sql: "SELECT title FROM posts_post WHERE title = :title",
    args: { title: "Quarterly planning" },
  });
  assert.equal(named.rows.length, 1);
  const members = await db.execute("SELECT email, password FROM accounts_user ORDER BY id");
  assert.ok(members.rows.length >= 1);
  assert.ok(members.rows.every((row) => row.email.includes("@") && row.password === null));
});

test("writes in a batch, all or nothing", async () => {
  const results = await db.batch(
    [
      { sql: "INSERT INTO posts_tag (name) VALUES (?)", args: [`${run}-a`] },
      { sql: "INSERT INTO posts_tag (name) VALUES (?)", args: [`${run}-b`] },
    ],
    "write",
  );
  assert.equal(results.length, 2);
  assert.equal(results[0].rowsAffected, 1);
  assert.equal(typeof results[1].lastInsertRowid, "bigint");
  assert.deepEqual(await tagNames(`${run}-`), [`${run}-a`, `${run}-b`]);

  await assert.rejects(
    db.batch(
      [
        { sql: "INSERT INTO posts_tag (name) VALUES (?)", args: [`${run}-c`] },
        { sql: "INSERT INTO posts_tag (name) VALUES (?)", args: [`${run}-a`] }, // unique
      ],
      "write",
    ),
    (error) => {
      assert.match(error.code, /^SQLITE_CONSTRAINT/);
      assert.match(error.message, /UNIQUE/);
      return true;
    },
  );
  assert.deepEqual(await tagNames(`${run}-`), [`${run}-a`, `${run}-b`]); // no c
});

test("an interactive transaction commits", async () => {
  const tx = await db.transaction("write");
  try {
    await tx.execute({ sql: "INSERT INTO posts_tag (name) VALUES (?)", args: [`${run}-tx1`] });
    const inside = await tx.execute({
      sql: "SELECT count(*) AS n FROM posts_tag WHERE name = ?",
      args: [`${run}-tx1`],
    });
    assert.equal(inside.rows[0].n, 1);
    assert.deepEqual(await tagNames(`${run}-tx1`), []); // not visible outside yet
    await tx.commit();
  } finally {
    tx.close();
  }
  assert.deepEqual(await tagNames(`${run}-tx1`), [`${run}-tx1`]);
});

test("an interactive transaction rolls back", async () => {
  const tx = await db.transaction("write");
  try {
    await tx.execute({ sql: "INSERT INTO posts_tag (name) VALUES (?)", args: [`${run}-tx2`] });
    await tx.rollback();
  } finally {
    tx.close();
  }
  assert.deepEqual(await tagNames(`${run}-tx2`), []);
});

test("a read transaction sees one snapshot", async () => {
  const count = "SELECT count(*) AS n FROM posts_tag";
  const tx = await db.transaction("read"); // BEGIN TRANSACTION READONLY
  try {
    const before = (await tx.execute(count)).rows[0].n;
    await db.execute({ sql: "INSERT INTO posts_tag (name) VALUES (?)", args: [`${run}-snap`] });
    assert.equal((await tx.execute(count)).rows[0].n, before); // not the write since
    await assert.rejects(
      tx.execute({ sql: "INSERT INTO posts_tag (name) VALUES (?)", args: [`${run}-ro-tx`] }),
      (error) => /^SQLITE_(READONLY|AUTH)/.test(error.code),
    );
    await tx.commit();
    assert.equal((await db.execute(count)).rows[0].n, before + 1);
  } finally {
    tx.close();
  }
  assert.deepEqual(await tagNames(`${run}-ro-tx`), []);
});

test("typed values round-trip", async () => {
  const beyond = 2n ** 62n + 1n; // far past 2^53
  const bytes = new Uint8Array([0, 1, 127, 128, 255]);
  const text = "grüße, 日本語, emoji 🦆, quote \" and nul-free";
  const result = await big.execute({
    sql: "SELECT ? AS i, ? AS b, ? AS t, ? AS n, ? AS f, 9223372036854775807 AS max, -9223372036854775808 AS min, x'00ff' AS lit, 0.1 AS tenth",
    args: [beyond, bytes, text, null, 3.25],
  });
  const row = result.rows[0];
  assert.equal(row.i, beyond);
  assert.deepEqual(new Uint8Array(row.b), bytes);
  assert.equal(row.t, text);
  assert.equal(row.n, null);
  assert.equal(row.f, 3.25);
  assert.equal(row.max, 9223372036854775807n);
  assert.equal(row.min, -9223372036854775808n);
  assert.deepEqual(new Uint8Array(row.lit), new Uint8Array([0, 255]));
  assert.equal(row.tenth, 0.1);

  const types = await big.execute({
    sql: "SELECT typeof(?) AS i, typeof(?) AS b, typeof(?) AS t, typeof(?) AS n, typeof(?) AS f",
    args: [beyond, bytes, text, null, 3.25],
  });
  assert.deepEqual({ ...types.rows[0] }, {
    i: "integer",
    b: "blob",
    t: "text",
    n: "null",
    f: "real",
  });
  // The default intMode refuses to round integers it cannot hold exactly.
  await assert.rejects(db.execute("SELECT 9007199254740993"), RangeError);

  // Stored and read back.
  await db.execute({ sql: "INSERT INTO posts_tag (name) VALUES (?)", args: [`${run}-${text}`] });
  assert.deepEqual(await tagNames(`${run}-grüße`), [`${run}-${text}`]);
});

test("a bad token is refused with a clear error", async () => {
  const stranger = createClient({ url, authToken: "not-a-token" });
  try {
    await assert.rejects(stranger.execute("SELECT 1"), (error) => {
      assert.equal(error.code, "UNAUTHORIZED"); // from the 401's protocol error
      assert.match(error.message, /token is not valid/);
      return true;
    });
  } finally {
    stranger.close();
  }
});

test("a syntax error is a clear error and the client goes on", async () => {
  await assert.rejects(db.execute("SELEC title FROM posts_post"), (error) => {
    assert.match(error.code, /^SQLITE_ERROR/);
    assert.match(error.message, /syntax error/);
    return true;
  });
  const result = await db.execute("SELECT count(*) AS n FROM posts_post");
  assert.equal(result.rows[0].n, 3);
});

test("refused statements are clear errors", async () => {
  for (const sql of [
    "ATTACH DATABASE 'elsewhere.sqlite3' AS elsewhere",
    "CREATE TABLE mine (x)",
    "SELECT session_data FROM django_session",
    "PRAGMA writable_schema = ON",
    "UPDATE accounts_user SET role = 'admin'",
  ]) {
    await assert.rejects(db.execute(sql), (error) => {
      assert.equal(error.code, "SQLITE_AUTH", sql);
      assert.match(error.message, /Refused: .* over the SQL API/, sql);
      return true;
    });
  }
});

test("a read-only token reads but cannot write", async () => {
  const reader = createClient({ url, authToken: readOnlyToken });
  try {
    const result = await reader.execute("SELECT count(*) AS n FROM posts_post");
    assert.equal(result.rows[0].n, 3);
    await assert.rejects(
      reader.execute({ sql: "INSERT INTO posts_tag (name) VALUES (?)", args: [`${run}-ro`] }),
      (error) => {
        assert.match(error.code, /^SQLITE_(READONLY|AUTH)/);
        return true;
      },
    );
  } finally {
    reader.close();
  }
  assert.deepEqual(await tagNames(`${run}-ro`), []);
});
