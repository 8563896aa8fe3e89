// Deep freezing for what is validated once and then shared read-only: the config, and the stores'
// in-memory copies handed to every reader (a reader cannot change another's view by accident).
export function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}
