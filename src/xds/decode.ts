/**
 * Cached resource bytes back to JSON, for operators (the admin API's per-proxy config). Never on a hot path.
 * Nested `Any`s (filters, protocol options) are expanded with their `@type`, as Envoy's /config_dump shows them.
 */
import { messageType } from './protos';
import { RESOURCE_TYPES, type ResourceKind } from './resource-types';


/** The resource inside `any` (google.protobuf.Any bytes of a `kind`), as JSON with enum names and `@type`d Anys. */
export function decodeResource(kind: ResourceKind, any: Buffer): Record<string, unknown> {
  const anyType = messageType('google.protobuf.Any');
  const wrapper = anyType.decode(any) as unknown as { value: Uint8Array };
  const type = messageType(RESOURCE_TYPES[kind].message);
  return type.toObject(type.decode(wrapper.value), { enums: String, longs: Number, defaults: false, json: true }) as Record<string, unknown>;
}

