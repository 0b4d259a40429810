import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { ReadinessCheck } from '../../server/readiness.js';

const Health = Type.Object({
  status: Type.Literal('ok'),
  timestamp: Type.String({ format: 'date-time' }),
});

const Readiness = Type.Object({
  status: Type.Union([Type.Literal('ready'), Type.Literal('not_ready')]),
  checks: Type.Object({
    database: Type.Union([Type.Literal('ok'), Type.Literal('unreachable')]),
    migrations: Type.String({ description: 'ok, or what is pending or wrong' }),
  }),
});

/**
 * `/health` is liveness only: it answers while the process serves HTTP, whatever the database is doing.
 * `/ready` is readiness: 200 while the database answers and no migration is pending, 503 otherwise, so a load
 * balancer sends no traffic to a process that could only fail it.
 */
export const healthRoutes: FastifyPluginAsyncTypebox<{ readiness: ReadinessCheck }> = async (app, { readiness }) => {
  app.get(
    '/ready',
    {
      config: { unlimited: true },
      schema: {
        tags: ['Operations'],
        operationId: 'ready',
        summary: 'Readiness: the database answers and no migration is pending',
        response: {
          200: { ...Readiness, description: 'Ready to serve' },
          503: { ...Readiness, description: 'Not ready: the checks say why' },
        },
      },
    },
    async (_request, reply) => {
      const { ready, checks } = await readiness();
      return reply
        .code(ready ? 200 : 503)
        .send({ status: ready ? ('ready' as const) : ('not_ready' as const), checks });
    },
  );

  const liveness = {
    tags: ['Operations'],
    operationId: 'health',
    summary: 'Liveness: the process serves HTTP',
    response: { 200: Health },
  };
  app.get('/health', { config: { unlimited: true }, schema: liveness }, async () => ({
    status: 'ok' as const,
    timestamp: new Date().toISOString(),
  }));
};
