import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';

const Health = Type.Object({
  status: Type.Literal('ok'),
  timestamp: Type.String({ format: 'date-time' }),
});

/** Liveness only: answers while the process serves HTTP, whatever the database is doing. */
export const healthRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.get('/health', { config: { unlimited: true }, schema: { response: { 200: Health } } }, async () => ({
    status: 'ok' as const,
    timestamp: new Date().toISOString(),
  }));
};
