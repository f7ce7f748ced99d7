/**
 * The one way a resource becomes bytes: every check, then protobufjs. `XdsCache.apply` calls it for every
 * resource it has not seen; nothing else encodes resources for serving.
 *
 * In order: a non-empty name that equals the message's name field; the strict schema walk (`strict.ts`: no key
 * or value protobufjs would drop or coerce); the kind's own checks (`RESOURCE_TYPES[kind].validate`); then
 * `fromObject` + `encode`, wrapped once as a google.protobuf.Any. A problem comes back as one line,
 * `<kind>[<name>]: <path>: <problem>`, and nothing is encoded.
 */
import { messageType } from './protos';
import { RESOURCE_TYPES, type MessageOf, type ResourceKind, type ResourceRef } from './resource-types';
import { strictProblem } from './strict';
import { encodeAny } from './wire';

/** A resource as translators produce it: a plain object in protobufjs `fromObject` form (camelCase fields). */
export interface ResourceInput<K extends ResourceKind = ResourceKind> {
  readonly name: string;
  readonly message: MessageOf<K>;
  readonly dependents?: readonly ResourceRef[];
}

export interface EncodedResource {
  /** The resource as google.protobuf.Any bytes. */
  readonly any: Buffer;
  readonly dependents: readonly ResourceRef[];
}

/** Checks and encodes one resource; a string is the reason it was refused (see the file comment). */
export function encodeResource<K extends ResourceKind>(kind: K, input: ResourceInput<K>): EncodedResource | string {
  const desc = RESOURCE_TYPES[kind];
  const where = `${kind}[${input.name}]`;
  if (!input.name) return `${where}: empty name`;
  const fields = input.message as Readonly<Record<string, unknown>>;
  if (fields[desc.nameField] !== input.name) return `${where}: ${desc.nameField} must equal the resource name`;
  try {
    const type = messageType(desc.message);
    const problem = strictProblem(type, input.message);
    if (problem !== undefined) return `${where}: ${problem}`;
    const problems = (desc.validate as (m: MessageOf<K>) => string[])(input.message);
    if (problems.length > 0) return `${where}: ${problems.join('; ')}`;
    return { any: encodeAny(desc.typeUrl, type.encode(type.fromObject(fields)).finish()), dependents: input.dependents ?? [] };
  } catch (err) {
    return `${where}: ${(err as Error).message}`;
  }
}
