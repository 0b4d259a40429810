import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { Metrics } from '../../plugins/metrics.js';

/**
 * Prometheus text format, behind the admin token (scrape with `authorization: Bearer <token>`): one port to
 * deploy and secure, and the numbers (partners' traffic, seats per event) are not for everyone to read.
 */
export const metricsRoutes: FastifyPluginAsyncTypebox<{ metrics: Metrics }> = async (app, { metrics }) => {
  app.get(
    '/metrics',
    {
      config: { access: 'admin', unlimited: true },
      schema: {
        tags: ['Operations'],
        operationId: 'metrics',
        summary: "Prometheus metrics of this process (the admin's token)",
        response: {
          200: {
            description: 'Prometheus text exposition format 0.0.4',
            content: { 'text/plain': { schema: Type.String() } },
          },
        },
      },
    },
    async (request, reply) => {
      const body = await metrics.scrape(request.log);
      return reply.type(metrics.registry.contentType).send(body);
    },
  );
};
