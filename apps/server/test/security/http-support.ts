import type { AddressInfo } from 'node:net';
import type { Role, User } from '@phos/shared';
import type { Phos } from '../../src/app.js';
import type { buildHttpServer } from '../../src/http/server.js';
import { createPatient, createStaff, TEST_PASSWORD } from '../support.js';

type HttpServer = Awaited<ReturnType<typeof buildHttpServer>>;

/** The Cookie header that carries what a response set, as a browser would send it back. */
export function cookieHeaderFrom(cookies: readonly { name: string; value: string }[]): string {
  return cookies.map((cookie) => `${cookie.name}=${cookie.value}`).join('; ');
}

/** An account of `role`, signed in over HTTP as the web app signs in: its Cookie header. */
export async function signedIn(server: HttpServer, phos: Phos, role: Role): Promise<{ user: User; cookie: string }> {
  const user = await (role === 'Patient' ? createPatient(phos) : createStaff(phos, role));
  const login = await server.inject({ method: 'POST', url: '/trpc/auth.login', payload: { email: user.email, password: TEST_PASSWORD } });
  if (login.statusCode !== 200) throw new Error(`login failed: ${login.statusCode} ${login.body}`);
  return { user, cookie: cookieHeaderFrom(login.cookies) };
}

/** Listens on a free loopback port: for what `inject` cannot do (streams, raw sockets). */
export async function listening(server: HttpServer): Promise<{ base: string; port: number }> {
  await server.listen({ port: 0, host: '127.0.0.1' });
  const { port } = server.server.address() as AddressInfo;
  return { base: `http://127.0.0.1:${port}`, port };
}

/** Signs in over real HTTP (a server in another process) and answers the session's `name=value`. */
export async function signInOverHttp(base: string, credentials: { email: string; password: string }): Promise<string> {
  const login = await fetch(`${base}/trpc/auth.login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(credentials),
  });
  if (login.status !== 200) throw new Error(`sign-in failed: ${login.status} ${await login.text()}`);
  const cookie = login.headers
    .getSetCookie()
    .map((header) => header.split(';')[0] ?? '')
    .find((pair) => pair.startsWith('phos_session='));
  if (!cookie) throw new Error('sign-in set no session cookie');
  return cookie;
}
