'use strict';
// Real Kafka request frames for the tests, written by kafkajs's own protocol encoders (the same code kafkajs
// sends over its sockets: request headers, record batches v2 with CRC32C, compression) and its response
// decoders. Nothing here knows potok: the frames go through `request(frame)` exactly as a socket carries them.

const assert = require('node:assert/strict');
const { requests } = require('kafkajs/src/protocol/requests');
const createRequest = require('kafkajs/src/protocol/request');
const Decoder = require('kafkajs/src/protocol/decoder');

let nextCorrelationId = 1;

/** A request frame (size prefix included) for kafkajs's `api` at `version`, with its response decoder. */
async function frame(api, version, args) {
  const { request, response } = requests[api].protocol({ version })(args);
  const correlationId = nextCorrelationId++;
  const encoder = await createRequest({ request, correlationId, clientId: 'potok-wasm-test' });
  return { bytes: new Uint8Array(encoder.buffer), response, correlationId };
}

/** Decodes a response frame with kafkajs's decoder for `api`/`version` after checking its size and correlation id. */
async function decode(answer, expected) {
  assert.ok(answer instanceof Uint8Array, 'a response frame');
  const decoder = new Decoder(Buffer.from(answer.buffer, answer.byteOffset, answer.byteLength));
  assert.equal(decoder.readInt32(), answer.length - 4, 'the size prefix counts the rest of the frame');
  assert.equal(decoder.readInt32(), expected.correlationId, 'the response carries the request\'s correlation id');
  return expected.response.decode(decoder.readAll());
}

/** Sends a request on `conn` (a Connection or the Broker) and decodes the answer (null: no answer due). */
async function call(conn, api, version, args) {
  const request = await frame(api, version, args);
  const answer = await conn.request(request.bytes);
  return answer === null ? null : decode(answer, request);
}

module.exports = { frame, decode, call };
