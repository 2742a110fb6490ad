// Drives Descope's official Node SDK, unmodified, through otpd's
// authorization model: management.permission/role/tenant, a user's roles
// and tenants, and the SDK's validateRoles/validatePermissions/
// validateTenantRoles/getMatched* on otpd's tokens. Same protocol as
// flow.mjs (server/sdk_node_authz_test.go).
import DescopeClient from '@descope/node-sdk';
import readline from 'node:readline';

const baseUrl = process.env.OTPD_BASE_URL;
const projectId = process.env.OTPD_PROJECT_ID;
const sdk = DescopeClient({ projectId, baseUrl });
const admin = DescopeClient({ projectId, baseUrl, managementKey: process.env.OTPD_MGMT_KEY });
const m = admin.management;
const lines = readline.createInterface({ input: process.stdin })[Symbol.asyncIterator]();

async function codeFor(address) {
  console.log(JSON.stringify({ need: address }));
  const { value } = await lines.next();
  return value.trim();
}

const brief = (r) => ({ ok: r.ok, error: r.error ?? null, data: r.data ?? null });
const out = {};

out.permCreate = brief(await m.permission.create('read', 'can read'));
out.permCreate2 = brief(await m.permission.create('write'));
out.permDup = brief(await m.permission.create('read'));
out.permAll = brief(await m.permission.loadAll());
out.roleCreate = brief(await m.role.create('viewer', 'reads', ['read']));
out.roleCreate2 = brief(await m.role.create('editor', 'edits', ['read', 'write']));
out.roleBadPerm = brief(await m.role.create('ghost', '', ['nope']));
out.roleNoSuchTenant = brief(await m.role.create('scoped', '', [], 'acme'));
out.roleAll = brief(await m.role.loadAll());
out.roleSearch = brief(await m.role.search({ roleNames: ['editor'] }));
out.tenantCreate = brief(await m.tenant.createWithId('acme', 'Acme', ['acme.io'], { tier: 'gold' }));
out.tenantCreateNoId = brief(await m.tenant.create('Beta'));
out.tenantSSO = brief(await m.tenant.create('Gamma', [], {}, true));
out.tenantLoad = brief(await m.tenant.load('acme'));
out.tenantAll = brief(await m.tenant.loadAll());
out.tenantSearch = brief(await m.tenant.searchAll(['acme']));
out.tenantDefaults = brief(await m.tenant.updateDefaultRoles('acme', ['viewer']));
out.roleTenantScoped = brief(await m.role.create('scoped', 'acme only', ['write'], 'acme'));
out.roleTenantSameName = brief(await m.role.create('editor', 'acme editor', [], 'acme'));
out.roleTenantDup = brief(await m.role.create('scoped', '', [], 'acme'));
out.roleAllTenant = brief(await m.role.loadAll());
out.roleSearchTenant = brief(await m.role.search({ tenantIds: ['acme'] }));
out.roleSearchTenantAndProject = brief(await m.role.search({ tenantIds: ['acme'], includeProjectRoles: true }));

const email = 'authz.node@example.com';
await sdk.otp.signUp.email(email);
let r = await sdk.otp.verify.email(email, await codeFor(email));
let refreshJwt = r.data.refreshJwt;

out.setRoles = brief(await m.user.setRoles(email, ['editor']));
out.addTenant = brief(await m.user.addTenant(email, 'acme'));
out.setTenantRoles = brief(await m.user.setTenantRoles(email, 'acme', ['viewer']));
out.addRoleUnknown = brief(await m.user.addRoles(email, ['nope']));
out.load = brief(await m.user.load(email));

async function claims(name) {
  const info = await sdk.refreshSession(refreshJwt);
  if (info.refreshJwt) refreshJwt = info.refreshJwt;
  out[name] = {
    roles: sdk.validateRoles(info, ['editor']),
    perms: sdk.validatePermissions(info, ['read', 'write']),
    tenantRoles: sdk.validateTenantRoles(info, 'acme', ['viewer']),
    tenantPerms: sdk.validateTenantPermissions(info, 'acme', ['read']),
    otherTenant: sdk.validateTenantRoles(info, 'other', []),
    matchedRoles: sdk.getMatchedRoles(info, ['editor', 'viewer']),
    matchedPerms: sdk.getMatchedPermissions(info, ['write', 'admin']),
    matchedTenantRoles: sdk.getMatchedTenantRoles(info, 'acme', ['viewer', 'editor', 'scoped']),
    matchedTenantPerms: sdk.getMatchedTenantPermissions(info, 'acme', ['read', 'write']),
    scopedRole: sdk.validateTenantRoles(info, 'acme', ['scoped']),
    scopedAtProject: sdk.validateRoles(info, ['scoped']),
    token: { roles: info.token.roles ?? null, permissions: info.token.permissions ?? null, tenants: info.token.tenants ?? null },
  };
}
await claims('claims');
out.searchByTenant = brief(await m.user.searchAll(['acme']));
out.searchByRole = brief(await m.user.search({ roles: ['editor'] }));
out.searchByOtherTenant = brief(await m.user.searchAll(['beta-none']));
out.me = brief(await sdk.me(refreshJwt));
out.myTenantsAll = brief(await sdk.myTenants(['acme', 'other'], refreshJwt));
out.myTenantsDctBefore = brief(await sdk.myTenants(true, refreshJwt));
out.selectOther = brief(await sdk.selectTenant('beta-not-member', refreshJwt));
r = await sdk.selectTenant('acme', refreshJwt);
out.selectTenant = { ok: r.ok, error: r.error ?? null };
if (r.ok) {
  const info = await sdk.validateSession(r.data.sessionJwt);
  out.selectTenant.dct = info.token.dct ?? null;
  refreshJwt = r.data.refreshJwt ?? refreshJwt;
  const again = await sdk.refreshSession(refreshJwt);
  out.selectTenant.dctAfterRefresh = again.token.dct ?? null;
  out.myTenantsDct = brief(await sdk.myTenants(true, refreshJwt));
}
out.addScoped = brief(await m.user.addTenantRoles(email, 'acme', ['scoped']));
await claims('claimsScoped');
out.roleUpdateScoped = brief(await m.role.update('scoped', 'lead', 'renamed in acme', ['read', 'write'], 'acme'));
await claims('claimsScopedRenamed');
out.permRename = brief(await m.permission.update('read', 'view', 'renamed'));
out.roleDelete = brief(await m.role.delete('editor'));
await claims('afterRoleDelete');
out.searchByRoleAfter = brief(await m.user.search({ roles: ['editor'] }));
out.tenantDelete = brief(await m.tenant.delete('acme'));
await claims('afterTenantDelete');
out.loadAfter = brief(await m.user.load(email));
out.roleAllAfter = brief(await m.role.loadAll());

const intruder = DescopeClient({ projectId, baseUrl, managementKey: 'mk-wrong-0123456789abcdef0123456789abcd' });
out.wrongKey = brief(await intruder.management.role.loadAll());

console.log(JSON.stringify({ result: out }));
process.exit(0);
