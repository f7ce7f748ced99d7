/**
 * The lab's Kubernetes client: the product's read-only KubeClient plus the write verbs the lab kubelet, the
 * harness and the runner need (create, update, merge patch, delete, and a raw request for /readyz and the like).
 * The product never writes to Kubernetes; these verbs exist only here.
 */
import { KubeClient, type Query, type RequestOptions } from '../../../src/sources/kubernetes/client';

export class LabKubeClient extends KubeClient {
  /** Any verb; resolves with the parsed JSON (or text), rejects with a KubeApiError for HTTP ≥ 400. */
  request<T = unknown>(method: string, path: string, opts: RequestOptions = {}): Promise<T> {
    return this.send<T>(method, path, opts);
  }

  post<T = unknown>(path: string, body: unknown, query?: Query): Promise<T> {
    return this.send<T>('POST', path, { body, query });
  }

  put<T = unknown>(path: string, body: unknown): Promise<T> {
    return this.send<T>('PUT', path, { body });
  }

  /** JSON merge patch (RFC 7386): lists in the patch replace the lists of the object. */
  mergePatch<T = unknown>(path: string, patch: unknown): Promise<T> {
    return this.send<T>('PATCH', path, { body: patch, contentType: 'application/merge-patch+json' });
  }

  delete<T = unknown>(path: string, body?: unknown, query?: Query): Promise<T> {
    return this.send<T>('DELETE', path, { body, query });
  }
}
