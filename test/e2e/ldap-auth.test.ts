import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startOrigin, type Origin } from '../helpers/origin.js';
import { proxyRequest } from '../helpers/pol-client.js';
import { accessLine, ERROR, startPolicyProxy, type PolicyProxy } from '../helpers/pol-proxy.js';
import { basic, curl, htpasswd } from '../helpers/auth-proxy.js';
import { BASE, startSlapd, type LdapServer } from '../helpers/ldap-server.js';

/**
 * LDAP authentication end to end against Debian's slapd started here: bind by DN
 * template, search-then-bind with a service account, group lookup (groupOfNames member
 * and posixGroup memberUid), wrong and empty passwords, filter injection, a users file
 * in front of the directory, and the directory being down (503 AUTH_UNAVAILABLE).
 */

const LDIF = `dn: ${BASE}
objectClass: dcObject
objectClass: organization
dc: example
o: Example

dn: ou=people,${BASE}
objectClass: organizationalUnit
ou: people

dn: ou=groups,${BASE}
objectClass: organizationalUnit
ou: groups

dn: uid=alice,ou=people,${BASE}
objectClass: inetOrgPerson
uid: alice
cn: Alice
sn: A
userPassword: alice-ldap-pw

dn: uid=bob,ou=people,${BASE}
objectClass: inetOrgPerson
uid: bob
cn: Bob
sn: B
userPassword: bob-ldap-pw

dn: cn=staff,ou=groups,${BASE}
objectClass: groupOfNames
cn: staff
member: uid=alice,ou=people,${BASE}

dn: cn=devs,ou=groups,${BASE}
objectClass: posixGroup
cn: devs
gidNumber: 5000
memberUid: bob
`;

const PW_ENV = 'EGRESSD_TEST_LDAP_BIND_PW';

let ldap: LdapServer;
let origin: Origin;
let byDn: PolicyProxy;
let bySearch: PolicyProxy;
let down: PolicyProxy;
let n = 0;

beforeAll(async () => {
  ldap = await startSlapd(LDIF);
  origin = await startOrigin((req, res) => res.end(`ok ${req.url}`));
  process.env[PW_ENV] = ldap.rootPw;
  const groups = { base: `ou=groups,${BASE}` };
  byDn = await startPolicyProxy({ files: {}, config: { auth: { required: true, ldap: { url: ldap.url, userDn: `uid={user},ou=people,${BASE}`, groups, timeout: '3s' } } } });
  bySearch = await startPolicyProxy({
    files: {},
    extra: { users: htpasswd({ local: 'local-pw' }) },
    config: {
      auth: {
        required: true,
        users: 'users',
        groups: { vpn: ['bob'] },
        ldap: { url: ldap.url, bindDn: ldap.rootDn, bindPasswordEnv: PW_ENV, searchBase: `ou=people,${BASE}`, searchFilter: '(&(objectClass=inetOrgPerson)(uid={user}))', groups, timeout: '3s' },
      },
    },
  });
});
afterAll(async () => {
  await byDn?.close();
  await bySearch?.close();
  await down?.close();
  await origin?.close();
  await ldap?.stop();
  delete process.env[PW_ENV];
});

function get(px: PolicyProxy, user: string, password: string) {
  const url = `${origin.url}/l${++n}`;
  return proxyRequest(px.port, url, { headers: { 'proxy-authorization': basic(user, password) } }).then((r) => ({ ...r, url }));
}

describe('LDAP bind by DN template', () => {
  it('authenticates a directory user and finds its groupOfNames group', async () => {
    const r = await get(byDn, 'alice', 'alice-ldap-pw');
    expect(r.status).toBe(200);
    expect(await accessLine(byDn, r.url)).toMatchObject({ user: 'alice', groups: ['staff'] });
  });

  it('refuses a wrong password, an unknown user and an empty password (no anonymous bind) with 407', async () => {
    for (const [u, p] of [['alice', 'nope'], ['carol', 'x'], ['alice', '']] as const) {
      const r = await get(byDn, u, p);
      expect(r.status).toBe(407);
      expect(r.headers['proxy-authenticate']).toMatch(/^Basic /);
    }
  });

  it('works with curl --proxy-user', async () => {
    const r = await curl(['-x', byDn.url, '--proxy-user', 'bob:bob-ldap-pw', '-o', '/dev/null', '-w', '%{http_code}', `${origin.url}/curl`]);
    expect(r.stdout).toBe('200');
  });
});

describe('LDAP search-then-bind with a service account, behind a users file', () => {
  it('finds bob by search, with his posixGroup (memberUid) and config groups', async () => {
    const r = await get(bySearch, 'bob', 'bob-ldap-pw');
    expect(r.status).toBe(200);
    expect(await accessLine(bySearch, r.url)).toMatchObject({ user: 'bob', groups: ['devs', 'vpn'] });
  });

  it('still authenticates users of the file, which is asked first', async () => {
    expect((await get(bySearch, 'local', 'local-pw')).status).toBe(200);
    expect((await get(bySearch, 'local', 'bob-ldap-pw')).status).toBe(407);
  });

  it('escapes the user name in the filter: "*" matches nobody', async () => {
    expect((await get(bySearch, '*', 'alice-ldap-pw')).status).toBe(407);
    expect((await get(bySearch, 'al*', 'alice-ldap-pw')).status).toBe(407);
  });
});

describe('directory down', () => {
  it('answers 503 AUTH_UNAVAILABLE (not 407) and logs an error line', async () => {
    const closedPort = ldap.port; // stopped below: nothing listens there any more
    await ldap.stop();
    down = await startPolicyProxy({ files: {}, config: { auth: { required: true, ldap: { url: `ldap://127.0.0.1:${closedPort}`, userDn: `uid={user},ou=people,${BASE}`, timeout: '2s' } } } });
    const r = await get(down, 'alice', 'alice-ldap-pw');
    expect(r.status).toBe(503);
    expect(r.headers['x-egressd-error']).toMatch(/^AUTH_UNAVAILABLE: /);
    expect(r.headers['proxy-authenticate']).toBeUndefined();
    const line = await down.server.waitFor((l) => l.msg === 'LDAP directory unavailable: authentication cannot be checked');
    expect(line.level).toBe(ERROR);
    // The cached login of the other proxy still works while the directory is down.
    expect((await get(byDn, 'alice', 'alice-ldap-pw')).status).toBe(200);
  });
});
