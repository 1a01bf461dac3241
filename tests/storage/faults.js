// Fault injection for the storage spec: wraps what a store does its I/O
// through (a file system, a Redis client, an IDBFactory, a Storage) so that
// one chosen operation fails. Works in Node and in the browser.
//
//   const plan = faultPlan(k);          // the k-th operation fails (from 1)
//   instrument(target, plan, { ops, deep, rejects })
//
// `ops(name)` says which method calls are storage operations (counted, and
// failed when their turn comes); `deep(value)` which returned objects are
// wrapped too (a file handle, a transaction, a MULTI); `rejects` whether an
// operation fails as promise-returning APIs do (a rejection) or as
// synchronous ones do (a throw).

export function faultPlan(failAt) {
  return { failAt, count: 0, injected: null };
}

function tick(plan, name) {
  plan.count += 1;
  if (plan.count !== plan.failAt) return null;
  plan.injected = new Error(`injected fault in ${name}`);
  return plan.injected;
}

export function instrument(target, plan, { ops = () => true, deep = () => false, rejects = false } = {}) {
  const proxies = new WeakMap(); // one proxy per object, so identities hold
  const maybeWrap = (value) => (value !== null && typeof value === 'object' && deep(value) ? wrap(value) : value);
  function wrap(obj) {
    let proxy = proxies.get(obj);
    if (proxy) return proxy;
    proxy = new Proxy(obj, {
      get(t, prop) {
        const value = Reflect.get(t, prop, t);
        if (typeof value !== 'function') return maybeWrap(value);
        if (typeof prop === 'symbol' || !ops(prop)) {
          return (...args) => {
            const out = value.apply(t, args);
            return out === t ? proxy : out; // a chained call stays wrapped
          };
        }
        return (...args) => {
          const fault = tick(plan, prop);
          if (fault) {
            // A close that fails has still released the handle, as close(2) does.
            if (prop === 'close') Promise.resolve(value.apply(t, args)).catch(() => {});
            if (rejects) return Promise.reject(fault);
            throw fault;
          }
          const out = value.apply(t, args);
          if (out === t) return proxy;
          if (out && typeof out.then === 'function') return out.then(maybeWrap);
          return maybeWrap(out);
        };
      },
      set: (t, prop, value) => Reflect.set(t, prop, value, t),
    });
    proxies.set(obj, proxy);
    return proxy;
  }
  return wrap(target);
}

/** True when `err`, or an error in its chain of causes, is `cause`. */
export function causedBy(err, cause) {
  for (let e = err, depth = 0; e && depth < 10; e = e.cause, depth++) if (e === cause) return true;
  return false;
}
