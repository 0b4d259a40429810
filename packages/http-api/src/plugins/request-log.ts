import { LogController, type FastifyReply, type FastifyRequest } from 'fastify';

/**
 * One log line per request, when it completes (Fastify's default writes two: on arrival and on completion).
 * Under load the log is a measurable share of a request's cost; the completed line carries everything.
 */
export class OneLinePerRequest extends LogController {
  override incomingRequest(): void {}

  override requestCompleted(error: Error | null | undefined, request: FastifyRequest, reply: FastifyReply): void {
    const fields = {
      // Fastify's `req` serializer, which every logger it is given gets, rebuilds this field from the request:
      // method, url, host, remotePort and remoteAddress, the latter from request.ip (so, behind a trusted proxy,
      // the forwarded client). A plain object here would lose the address.
      req: request,
      res: { statusCode: reply.statusCode },
      responseTime: reply.elapsedTime,
    };
    if (error) reply.log.error({ ...fields, err: error }, 'request errored');
    else reply.log.info(fields, 'request completed');
  }
}
