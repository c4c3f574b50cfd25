import type { AddressInfo } from 'node:net';
import type { Role, User } from '@phos/shared';
import type { Phos } from '../../src/app.js';
import type { buildHttpServer } from '../../src/http/server.js';
import { createUser } from '../../src/identity/users.js';
import { patientInput } from '../support.js';

const PASSWORD = 'correct-horse-battery-staple';

type HttpServer = Awaited<ReturnType<typeof buildHttpServer>>;

/** The Cookie header that carries what a response set, as a browser would send it back. */
export function cookieHeaderFrom(cookies: readonly { name: string; value: string }[]): string {
  return cookies.map((cookie) => `${cookie.name}=${cookie.value}`).join('; ');
}

/** An account of `role`, signed in over HTTP as the web app signs in: its Cookie header. */
export async function signedIn(server: HttpServer, phos: Phos, role: Role): Promise<{ user: User; cookie: string }> {
  const input = patientInput();
  const { user } = await createUser(phos.services.db, { ...input, password: PASSWORD, role });
  const login = await server.inject({ method: 'POST', url: '/trpc/auth.login', payload: { email: input.email, password: PASSWORD } });
  if (login.statusCode !== 200) throw new Error(`login failed: ${login.statusCode} ${login.body}`);
  return { user, cookie: cookieHeaderFrom(login.cookies) };
}

/** Listens on a free loopback port: for what `inject` cannot do (streams, raw sockets). */
export async function listening(server: HttpServer): Promise<{ base: string; port: number }> {
  await server.listen({ port: 0, host: '127.0.0.1' });
  const { port } = server.server.address() as AddressInfo;
  return { base: `http://127.0.0.1:${port}`, port };
}
