// s3_sigv4_proxy.js — a reverse proxy for the S3 integration test that
// verifies AWS Signature Version 4 on every request before passing it to
// s3rver, which itself checks only the access key id of a V4 request.
// It recomputes the signature from the request as received on the wire
// (node's crypto, independent of promlab's SHA-256/HMAC), checks the body
// against x-amz-content-sha256, and answers 403 SignatureDoesNotMatch /
// XAmzContentSHA256Mismatch as S3 does. It logs no secrets.
//   node s3_sigv4_proxy.js LISTEN_PORT UPSTREAM_PORT ACCESS_KEY SECRET_KEY [DELAY_MS]
'use strict';
const http = require('http');
const crypto = require('crypto');

const [listenPort, upstreamPort, accessKey, secretKey, delayArg] = process.argv.slice(2);
const delayMs = Number(delayArg || 0); // optional: hold each request this long (to kill a client mid-upload)
let verified = 0, rejected = 0;

const enc = (s) => encodeURIComponent(s).replace(/[!'()*]/g, (c) => '%' + c.charCodeAt(0).toString(16).toUpperCase());
const sha256 = (b) => crypto.createHash('sha256').update(b).digest('hex');
const hmac = (k, s) => crypto.createHmac('sha256', k).update(s).digest();

function fail(res, code, msg) {
  rejected++;
  res.writeHead(403, { 'Content-Type': 'application/xml' });
  res.end(`<?xml version="1.0" encoding="UTF-8"?><Error><Code>${code}</Code><Message>${msg}</Message></Error>`);
}

function verify(req, body) {
  const auth = req.headers['authorization'] || '';
  const m = /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/s3\/aws4_request, ?SignedHeaders=([a-z0-9;-]+), ?Signature=([0-9a-f]{64})$/.exec(auth);
  if (!m) return ['AccessDenied', 'missing or malformed AWS4-HMAC-SHA256 Authorization header'];
  const [, ak, date, region, signedHeaders, signature] = m;
  if (ak !== accessKey) return ['InvalidAccessKeyId', 'unknown access key'];
  const hdrs = signedHeaders.split(';');
  for (const h of ['host', 'x-amz-date', 'x-amz-content-sha256'])
    if (!hdrs.includes(h)) return ['AccessDenied', `${h} is not signed`];
  const amzDate = req.headers['x-amz-date'];
  if (!amzDate || amzDate.slice(0, 8) !== date) return ['AccessDenied', 'x-amz-date does not match the credential date'];
  const skew = Math.abs(Date.parse(amzDate.replace(/^(\d{4})(\d\d)(\d\d)T(\d\d)(\d\d)(\d\d)Z$/, '$1-$2-$3T$4:$5:$6Z')) - Date.now());
  if (!(skew < 15 * 60 * 1000)) return ['RequestTimeTooSkewed', 'x-amz-date is too far from now'];
  const payloadHash = req.headers['x-amz-content-sha256'];
  if (payloadHash !== 'UNSIGNED-PAYLOAD' && payloadHash !== sha256(body))
    return ['XAmzContentSHA256Mismatch', 'the body does not match x-amz-content-sha256'];
  const qpos = req.url.indexOf('?');
  const rawPath = qpos < 0 ? req.url : req.url.slice(0, qpos);
  const rawQuery = qpos < 0 ? '' : req.url.slice(qpos + 1);
  const canonUri = rawPath.split('/').map((seg) => enc(decodeURIComponent(seg))).join('/');
  const canonQuery = rawQuery === '' ? '' : rawQuery.split('&').map((kv) => {
    const i = kv.indexOf('=');
    const k = decodeURIComponent(i < 0 ? kv : kv.slice(0, i));
    const v = decodeURIComponent(i < 0 ? '' : kv.slice(i + 1));
    return [enc(k), enc(v)];
  }).sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`).join('&');
  const canonHeaders = hdrs.map((h) => `${h}:${String(req.headers[h] ?? '').trim().replace(/\s+/g, ' ')}\n`).join('');
  const creq = [req.method, canonUri, canonQuery, canonHeaders, signedHeaders, payloadHash].join('\n');
  const scope = `${date}/${region}/s3/aws4_request`;
  const sts = ['AWS4-HMAC-SHA256', amzDate, scope, sha256(creq)].join('\n');
  let key = hmac('AWS4' + secretKey, date);
  key = hmac(key, region);
  key = hmac(key, 's3');
  key = hmac(key, 'aws4_request');
  const want = crypto.createHmac('sha256', key).update(sts).digest('hex');
  if (want !== signature) return ['SignatureDoesNotMatch', 'The request signature we calculated does not match the signature you provided.'];
  return null;
}

http.createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    const body = Buffer.concat(chunks);
    if (req.url === '/__proxy_stats') {
      res.end(JSON.stringify({ verified, rejected }));
      return;
    }
    const bad = verify(req, body);
    if (bad) return fail(res, bad[0], bad[1]);
    verified++;
    setTimeout(() => forward(req, res, body), delayMs);
  });
}).listen(listenPort, '127.0.0.1', () => console.log(`sigv4 proxy on 127.0.0.1:${listenPort} -> ${upstreamPort}`));

function forward(req, res, body) {
    const up = http.request({ host: '127.0.0.1', port: upstreamPort, method: req.method, path: req.url, headers: req.headers }, (ur) => {
      res.writeHead(ur.statusCode, ur.headers);
      ur.pipe(res);
    });
    up.on('error', () => { res.writeHead(502); res.end(); });
    up.end(body);
}
