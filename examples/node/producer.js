// An awa_queue producer for Node.js with the pg package.
//
// Each order is written in one business transaction together with the job
// that sends its receipt: awa.enqueue is transactional, so the job exists if
// and only if the order commits.  The run ends by placing an order that is
// rolled back and checking that it left no job behind.
//
//   node producer.js --orders 20            # one transaction per order
//   node producer.js --orders 500 --batch   # one transaction, enqueue_many
//
// The connection comes from the libpq environment (PGHOST, PGPORT, PGUSER,
// PGDATABASE, ...).  The role needs awa.grant_producer(role) and rights on
// the app_orders table.
import { parseArgs } from 'node:util';
import pg from 'pg';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS app_orders (
    id bigserial PRIMARY KEY,
    customer text NOT NULL,
    total_cents integer NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    receipt_sent_at timestamptz
)`;

// Run fn(client) inside BEGIN ... COMMIT; ROLLBACK when it throws.
async function inTransaction(client, fn) {
  await client.query('BEGIN');
  try {
    const result = await fn(client);
    await client.query('COMMIT');
    return result;
  } catch (error) {
    await client.query('ROLLBACK');
    throw error;
  }
}

// Insert an order and enqueue its receipt job in one transaction.
export function placeOrder(client, queue, customer, totalCents) {
  return inTransaction(client, async () => {
    const { rows: [order] } = await client.query(
      'INSERT INTO app_orders (customer, total_cents) VALUES ($1, $2) RETURNING id',
      [customer, totalCents]);
    const { rows: [job] } = await client.query(
      "SELECT awa.enqueue('send_receipt', $1::jsonb, queue => $2) AS id",
      [{ order_id: Number(order.id) }, queue]);
    return { orderId: order.id, jobId: job.id };
  });
}

// Insert many orders and enqueue their jobs with one awa.enqueue_many call.
export function placeOrdersBatch(client, queue, customers, totals) {
  return inTransaction(client, async () => {
    const { rows } = await client.query(`
      WITH o AS (
          INSERT INTO app_orders (customer, total_cents)
          SELECT * FROM unnest($1::text[], $2::integer[])
          RETURNING id)
      SELECT awa.enqueue_many((
          SELECT jsonb_agg(jsonb_build_object(
                     'kind', 'send_receipt', 'queue', $3::text,
                     'args', jsonb_build_object('order_id', id))
                 ORDER BY id)
          FROM o)) AS id`, [customers, totals, queue]);
    return rows.map((r) => r.id);
  });
}

// Enqueue inside a transaction that then fails: neither the order nor the
// job survives.  Returns the id the rolled-back job had.
export async function abandonedOrderLeavesNoJob(client, queue) {
  let jobId = null;
  try {
    await inTransaction(client, async () => {
      await client.query(
        "INSERT INTO app_orders (customer, total_cents) VALUES ('abandoned', 0)");
      const { rows: [job] } = await client.query(
        `SELECT awa.enqueue('send_receipt', '{"order_id": -1}', queue => $1) AS id`,
        [queue]);
      jobId = job.id;
      throw new Error('payment declined');
    });
  } catch (error) {
    if (error.message !== 'payment declined') throw error;
  }
  const { rows: [{ n }] } = await client.query(
    'SELECT count(*)::int AS n FROM awa.jobs WHERE id = $1', [jobId]);
  if (n !== 0) throw new Error(`job ${jobId} survived its rolled-back transaction`);
  return jobId;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { values } = parseArgs({
    options: {
      queue: { type: 'string', default: 'default' },
      orders: { type: 'string', default: '10' },
      batch: { type: 'boolean', default: false },
    },
  });
  const count = Number(values.orders);
  const client = new pg.Client();
  await client.connect();
  try {
    await client.query(SCHEMA);
    const customers = Array.from({ length: count }, (_, i) => `customer-${i}`);
    const totals = Array.from({ length: count }, (_, i) => 100 * (i + 1));
    let jobs;
    if (values.batch) {
      jobs = await placeOrdersBatch(client, values.queue, customers, totals);
    } else {
      jobs = [];
      for (let i = 0; i < count; i++) {
        jobs.push((await placeOrder(client, values.queue, customers[i], totals[i])).jobId);
      }
    }
    const rolledBack = await abandonedOrderLeavesNoJob(client, values.queue);
    console.log(JSON.stringify({ enqueued: jobs.length, first_job: jobs[0] ?? null,
      rolled_back_job: rolledBack }));
  } finally {
    await client.end();
  }
}
