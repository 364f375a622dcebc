// Drives the npm `piston-client` package, unchanged, for tests/api/test_piston_clients.py:
// node piston_client.mjs SERVER_URL < calls.json, where calls.json is a list of
// {"method": "runtimes" | "execute", "args": [...]}; prints the list of the client's answers.
import piston from "piston-client";

const chunks = [];
for await (const chunk of process.stdin) chunks.push(chunk);
const calls = JSON.parse(Buffer.concat(chunks).toString());
const client = piston({ server: process.argv[2] });
const answers = [];
for (const call of calls) {
  const answer = await client[call.method](...(call.args || []));
  if (answer && answer.error instanceof Error) answer.error = String(answer.error);
  answers.push(answer);
}
process.stdout.write(JSON.stringify(answers));
