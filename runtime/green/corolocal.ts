// Green-thread-local storage: each green thread sees its own attributes.
import { getHub, type Parkable } from '../hub/hub';

const hub = getHub();

/**
 * An object whose attributes are per green thread (Evy's `corolocal.local`):
 * `const l = new local(); l.user = 'a'` in one thread is invisible in another.
 * Methods and accessors of subclasses are shared; only own attributes are local.
 * A thread's attributes go away with the thread.
 */
export class local {
  [key: string | symbol]: unknown;

  constructor() {
    const perThread = new WeakMap<Parkable, Record<string | symbol, unknown>>();
    const own = (): Record<string | symbol, unknown> => {
      const gt = hub.current();
      let d = perThread.get(gt);
      if (d === undefined) perThread.set(gt, (d = Object.create(null) as Record<string | symbol, unknown>));
      return d;
    };
    return new Proxy(this, {
      get(target, key, receiver) {
        const d = own();
        return key in d ? d[key] : Reflect.get(target, key, receiver);
      },
      set(_target, key, value) {
        own()[key] = value;
        return true;
      },
      has(target, key) {
        return key in own() || key in target;
      },
      deleteProperty(_target, key) {
        const d = own();
        if (!(key in d)) return false;
        delete d[key];
        return true;
      },
      defineProperty(_target, key, desc) {
        own()[key] = desc.value;
        return true;
      },
      ownKeys() {
        return Reflect.ownKeys(own());
      },
      getOwnPropertyDescriptor(_target, key) {
        const d = own();
        return key in d ? { value: d[key], writable: true, enumerable: true, configurable: true } : undefined;
      },
    });
  }
}
