// Drives Descope's official Node SDK, unmodified, against a running otpd.
// Protocol with server/sdk_node_test.go: when the script needs a code it
// prints {"need": "<address>"} on stdout and reads the code from stdin; to
// age a session it prints {"advance": <seconds>} and waits for a line while
// the test moves otpd's clock; at the end it prints {"result": {...}} and
// exits 0.
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

// advance asks the test to move otpd's clock (sleeping is not allowed).
async function advance(seconds) {
  console.log(JSON.stringify({ advance: seconds }));
  await lines.next();
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
const stepUpRefresh = r.data?.refreshJwt;
out.updateStart = brief(await sdk.otp.update.email('node.sdk@example.com', 'node.new@example.com', refreshJwt, { addToLoginIDs: true }));
r = await sdk.otp.verify.email('node.sdk@example.com', await codeFor('node.new@example.com'));
out.update = { ok: r.ok, error: r.error ?? null, email: r.data?.user?.email, loginIds: r.data?.user?.loginIds };
// A phone change right after, with the refresh JWT the step-up returned.
out.updatePhoneStart = brief(await sdk.otp.update.phone.sms('node.sdk@example.com', '+14155550178', stepUpRefresh));
r = await sdk.otp.verify.sms('node.sdk@example.com', await codeFor('+14155550178'));
out.updatePhone = { ok: r.ok, error: r.error ?? null, phone: r.data?.user?.phone };
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

const smsRefresh = r.data?.refreshJwt;
const smsUserId = r.data?.user?.userId;

// The rest of the session API: login history and tenants (none in otpd).
out.history = brief(await sdk.history(smsRefresh));
out.myTenants = brief(await sdk.myTenants(true, smsRefresh));
out.selectTenant = brief(await sdk.selectTenant('T1', smsRefresh));

// The management API (management.user.*), with a management key.
const admin = DescopeClient({ projectId, baseUrl, managementKey: process.env.OTPD_MGMT_KEY });
const users = admin.management.user;
const mid = 'mgmt.node@example.com';
out.mCreate = brief(await users.create(mid, { email: mid, displayName: 'Mgmt Node', verifiedEmail: true, customAttributes: { plan: 'pro' } }));
const mUserId = out.mCreate.data?.userId;
out.mLoad = brief(await users.load(mid));
out.mLoadById = brief(await users.loadByUserId(mUserId));
out.mUpdate = brief(await users.update(mid, { email: mid, displayName: 'Renamed', verifiedEmail: true }));
out.mPatch = brief(await users.patch(mid, { givenName: 'Given' }));
out.mName = brief(await users.updateDisplayName(mid, 'Display'));
out.mAttr = brief(await users.updateCustomAttribute(mid, 'seats', 5));
out.mEmail = brief(await users.updateEmail(mid, 'mgmt.new@example.com', true));
out.mPhone = brief(await users.updatePhone(mid, '+14155550188', true));
out.mLoginId = brief(await users.updateLoginId(mid, 'mgmt-node'));
out.mDeactivate = brief(await users.deactivate('mgmt-node'));
out.signInDisabled = brief(await sdk.otp.signIn.email('mgmt-node'));
out.mActivate = brief(await users.activate('mgmt-node'));
out.mSearch = brief(await users.search({ loginIds: ['mgmt-node'] }));
// Filters and options the SDK sends that otpd used to drop (issue 19 §3).
out.mSearchIds = brief(await users.search({ userIds: [mUserId], sort: [{ field: 'createdTime', desc: true }] }));
out.mSearchFuture = brief(await users.search({ userIds: [mUserId], fromCreatedTime: Date.now() + 3600000 }));
out.mPatchIds = brief(await users.patch('mgmt-node', { additionalIdentifiers: ['mgmt-node-alt'] }));
out.mSearchTenants = brief(await users.search({ tenantRoleNames: { T1: { values: ['admin'] } } }));
out.mLoadUsers = brief(await users.loadUsers([mUserId, smsUserId]));
out.mLogout = brief(await users.logoutUser('mgmt-node'));
out.mHistory = brief(await users.history([smsUserId]));
out.mTest = brief(await users.createTestUser('qa.node@example.com', { email: 'qa.node@example.com' }));
out.mOtp = brief(await users.generateOTPForTestUser('email', 'qa.node@example.com', { customClaims: { suite: 'e2e' } }));
r = await sdk.otp.verify.email('qa.node@example.com', out.mOtp.data?.code ?? '');
out.testVerify = { ok: r.ok, error: r.error ?? null, userId: r.data?.user?.userId };
try {
  const tinfo = await sdk.validateSession(r.data.sessionJwt);
  out.testClaims = { nsec: tinfo.token.nsec ?? null };
} catch (e) {
  out.testClaims = { error: String(e) };
}
// T1 is no tenant of this user: refused (E011002) before anything is sent.
out.tenantStart = brief(await sdk.otp.signIn.email('node.sdk@example.com', { tenantId: 'T1' }));
out.mOtpOrdinary = brief(await users.generateOTPForTestUser('email', 'node.sdk@example.com'));
out.mDeleteTests = brief(await users.deleteAllTestUsers());
out.mLoadTestAfter = brief(await users.load('qa.node@example.com'));
out.mDelete = brief(await users.delete('mgmt-node'));
out.mLoadAfterDelete = brief(await users.load('mgmt-node'));
const intruder = DescopeClient({ projectId, baseUrl, managementKey: 'mk-wrong-0123456789abcdef0123456789abcd' });
out.mWrongKey = brief(await intruder.management.user.load(mid));

// An old session: its refresh JWT alone may no longer change the email
// (403 E064403, "step up"); after a step-up the SDK's flow goes through
// with the refresh JWT the step-up returned.
out.oldStart = brief(await sdk.otp.signUpOrIn.email('node.old@example.com'));
r = await sdk.otp.verify.email('node.old@example.com', await codeFor('node.old@example.com'));
const oldRefresh = r.data?.refreshJwt;
await advance(11 * 60);
out.oldUpdate = brief(await sdk.otp.update.email('node.old@example.com', 'node.old2@example.com', oldRefresh));
out.oldStepUpStart = brief(await sdk.otp.signIn.email('node.old@example.com', { stepup: true }, oldRefresh));
r = await sdk.otp.verify.email('node.old@example.com', await codeFor('node.old@example.com'));
out.oldStepUp = { ok: r.ok, error: r.error ?? null };
out.oldUpdateAfterStepUp = brief(await sdk.otp.update.email('node.old@example.com', 'node.old2@example.com', r.data?.refreshJwt));
r = await sdk.otp.verify.email('node.old@example.com', await codeFor('node.old2@example.com'));
out.oldUpdated = { ok: r.ok, error: r.error ?? null, email: r.data?.user?.email };

console.log(JSON.stringify({ result: out }));
process.exit(0);
