// Drives Descope's official Node SDK, unmodified, through otpd's access
// keys: management.accessKey.create/load/searchAll/update/deactivate/
// activate/delete, exchangeAccessKey (which validates the session JWT
// against otpd's JWKS), validateSession on that JWT, and validateRoles/
// validatePermissions/validateTenantRoles on it. Same protocol as
// flow.mjs (server/sdk_node_accesskey_test.go).
import DescopeClient from '@descope/node-sdk';

const baseUrl = process.env.OTPD_BASE_URL;
const projectId = process.env.OTPD_PROJECT_ID;
const sdk = DescopeClient({ projectId, baseUrl });
const admin = DescopeClient({ projectId, baseUrl, managementKey: process.env.OTPD_MGMT_KEY });
const m = admin.management;

const brief = (r) => ({ ok: r.ok, error: r.error ?? null, data: r.data ?? null });
const out = {};
const attempt = async (f) => {
  try {
    return { ok: true, value: await f() };
  } catch (e) {
    return { ok: false, error: String(e) };
  }
};

await m.permission.create('read');
await m.permission.create('write');
await m.role.create('reader', '', ['read']);
await m.role.create('writer', '', ['write']);
await m.tenant.createWithId('acme', 'Acme');

out.create = brief(await m.accessKey.create('billing', 0, ['reader'], [{ tenantId: 'acme', roleNames: ['writer'] }],
  undefined, undefined, 'the billing service', ['127.0.0.1', '::1']));
const cleartext = out.create.data?.cleartext;
const id = out.create.data?.key?.id;
out.createBoundUser = brief(await m.accessKey.create('bound', 0, [], [], 'U123'));
out.createBadIp = brief(await m.accessKey.create('badip', 0, [], [], undefined, undefined, '', ['nope']));
out.load = brief(await m.accessKey.load(id));
out.searchAll = brief(await m.accessKey.searchAll());
out.searchTenant = brief(await m.accessKey.searchAll(['acme']));
out.searchOther = brief(await m.accessKey.searchAll(['globex']));

const info = await attempt(() => sdk.exchangeAccessKey(cleartext));
if (info.ok) {
  const a = info.value;
  out.exchange = {
    ok: true,
    sub: a.token.sub,
    roles: sdk.validateRoles(a, ['reader']),
    notRoles: sdk.validateRoles(a, ['writer']),
    perms: sdk.validatePermissions(a, ['read']),
    notPerms: sdk.validatePermissions(a, ['write']),
    tenantRoles: sdk.validateTenantRoles(a, 'acme', ['writer']),
    tenantPerms: sdk.validateTenantPermissions(a, 'acme', ['write']),
    matchedRoles: sdk.getMatchedRoles(a, ['reader', 'writer']),
  };
  const v = await attempt(() => sdk.validateSession(a.jwt));
  out.validateSession = { ok: v.ok, sub: v.value?.token?.sub, error: v.error ?? null };
  // The key's session JWT is no user's refresh token.
  const rs = await attempt(() => sdk.refreshSession(a.jwt));
  out.refreshWithKeyJwt = { ok: rs.ok };
  out.meWithKeyJwt = brief(await sdk.me(a.jwt));
} else {
  out.exchange = info;
}
const sel = await attempt(() => sdk.exchangeAccessKey(cleartext, { selectedTenant: 'acme' }));
out.selectedTenant = { ok: sel.ok, dct: sel.value?.token?.dct ?? null, error: sel.error ?? null };
out.wrongKey = await attempt(() => sdk.exchangeAccessKey(cleartext.slice(0, -1) + (cleartext.endsWith('A') ? 'E' : 'A')));

out.update = brief(await m.accessKey.update(id, 'billing-v2', undefined, ['writer']));
const upd = await attempt(() => sdk.exchangeAccessKey(cleartext));
out.afterUpdate = { ok: upd.ok, writer: upd.ok && sdk.validateRoles(upd.value, ['writer']), reader: upd.ok && sdk.validateRoles(upd.value, ['reader']) };

await m.role.delete('writer');
const del = await attempt(() => sdk.exchangeAccessKey(cleartext));
out.afterRoleDelete = { ok: del.ok, writer: del.ok && sdk.validateRoles(del.value, ['writer']) };

out.deactivate = brief(await m.accessKey.deactivate(id));
out.exchangeDeactivated = await attempt(() => sdk.exchangeAccessKey(cleartext));
out.activate = brief(await m.accessKey.activate(id));
out.exchangeActivated = { ok: (await attempt(() => sdk.exchangeAccessKey(cleartext))).ok };
out.delete = brief(await m.accessKey.delete(id));
out.exchangeDeleted = await attempt(() => sdk.exchangeAccessKey(cleartext));
out.loadDeleted = brief(await m.accessKey.load(id));

console.log(JSON.stringify({ result: out }));
