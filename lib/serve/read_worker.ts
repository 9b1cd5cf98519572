/**
 * The worker thread the HTTP read API runs its queries in (see {@link ReadApiWorker}), so a long
 * scan never holds up the writer's event loop. Messages: {@link ReadRequest} in,
 * {@link ReadReply} out.
 *
 * @module
 */

import { ReadApi, ReadApiError, type ReadReply, type ReadRequest } from "./read_api.ts";

const scope = globalThis as unknown as {
  onmessage: ((event: MessageEvent<ReadRequest>) => void) | null;
  postMessage(message: ReadReply): void;
};

let api: ReadApi | undefined;

scope.onmessage = ({ data: request }) => {
  try {
    switch (request.kind) {
      case "open":
        api?.close();
        api = new ReadApi(request.path);
        return scope.postMessage({ id: request.id, ok: true, value: null });
      case "sensors":
        return scope.postMessage({ id: request.id, ok: true, value: api!.sensors() });
      case "readings":
        return scope.postMessage({
          id: request.id,
          ok: true,
          value: api!.readings(new URLSearchParams(request.query)),
        });
      case "close":
        api?.close();
        api = undefined;
        return scope.postMessage({ id: request.id, ok: true, value: null });
    }
  } catch (e) {
    const status = e instanceof ReadApiError ? e.status : 503;
    const message = e instanceof ReadApiError ? e.message : `cannot read the database: ${(e as Error).message}`;
    scope.postMessage({ id: request.id, ok: false, status, message });
  }
};
