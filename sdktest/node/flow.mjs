// Drives Descope's official Node SDK, unmodified, against a running otpd.
// Protocol with server/sdk_node_test.go: when the script needs a code it
// prints {"need": "<address>"} on stdout and reads the code from stdin; at
// the end it prints {"result": {...}} and exits 0.
import DescopeClient from '@descope/node-sdk';
import readline from 'node:readline';

const baseUrl = process.env.OTPD_BASE_URL;
const projectId = process.env.OTPD_PROJECT_ID;
const sdk = DescopeClient({ projectId, baseUrl });
const lines = readline.createInterface({ input: process.stdin })[Symbol.asyncIterator]();

async function codeFor(address) {
  console.log(JSON.stringify({ need: address }));
  const { value } = await lines.next();
  return value.trim();
}

const brief = (r) => ({ ok: r.ok, error: r.error ?? null, data: r.data ?? null });
const out = {};

// Email sign-up with a user object, then verify, then validate the session
// locally against the JWKS the SDK fetches from /v2/keys/{projectId}.
out.signUp = brief(await sdk.otp.signUp.email('node.sdk@example.com', { name: 'Node SDK' }));
let r = await sdk.otp.verify.email('node.sdk@example.com', await codeFor('node.sdk@example.com'));
out.verify = { ok: r.ok, error: r.error ?? null, firstSeen: r.data?.firstSeen, user: r.data?.user };
const info = await sdk.validateSession(r.data.sessionJwt);
out.session = { sub: info.token.sub, drn: info.token.drn, amr: info.token.amr, iss: info.token.iss };
try {
  const rinfo = await sdk.validateJwt(r.data.refreshJwt);
  out.refresh = { drn: rinfo.token.drn };
} catch (e) {
  out.refresh = { error: String(e) };
}

// Session calls: refreshSession validates the refresh JWT locally, calls
// /v1/auth/refresh and validates the new session JWT; me; logout.
const refreshJwt = r.data.refreshJwt;
try {
  const refreshed = await sdk.refreshSession(refreshJwt);
  out.refreshSession = { drn: refreshed.token.drn, sub: refreshed.token.sub };
} catch (e) {
  out.refreshSession = { error: String(e) };
}
out.me = brief(await sdk.me(refreshJwt));

// Step-up sign-in and an email change, both authorised by the refresh JWT.
out.stepUpStart = brief(await sdk.otp.signIn.email('node.sdk@example.com', { stepup: true }, refreshJwt));
r = await sdk.otp.verify.email('node.sdk@example.com', await codeFor('node.sdk@example.com'));
out.stepUp = { ok: r.ok, error: r.error ?? null, su: r.ok ? (await sdk.validateSession(r.data.sessionJwt)).token.su : null };
out.updateStart = brief(await sdk.otp.update.email('node.sdk@example.com', 'node.new@example.com', refreshJwt, { addToLoginIDs: true }));
r = await sdk.otp.verify.email('node.sdk@example.com', await codeFor('node.new@example.com'));
out.update = { ok: r.ok, error: r.error ?? null, email: r.data?.user?.email, loginIds: r.data?.user?.loginIds };
out.logout = brief(await sdk.logout(refreshJwt));
out.meAfterLogout = brief(await sdk.me(refreshJwt));

// Errors arrive in the SDK's error shape.
out.signUpAgain = brief(await sdk.otp.signUp.email('node.sdk@example.com'));
out.signInUnknown = brief(await sdk.otp.signIn.email('nobody@example.com'));
out.signIn = brief(await sdk.otp.signIn.email('node.sdk@example.com'));
out.wrongCode = brief(await sdk.otp.verify.email('node.sdk@example.com', '000000'));

// A phone channel through sign-up-or-in.
out.smsStart = brief(await sdk.otp.signUpOrIn.sms('+14155550177'));
r = await sdk.otp.verify.sms('+14155550177', await codeFor('+14155550177'));
out.smsVerify = { ok: r.ok, error: r.error ?? null, phone: r.data?.user?.phone };

console.log(JSON.stringify({ result: out }));
process.exit(0);
