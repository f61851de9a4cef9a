// evy's native hub: the current green thread, kept in V8's continuation-
// preserved embedder data (CPED) on Node 20, where AsyncLocalStorage is built
// on promise hooks. V8 copies the CPED into every promise reaction when it is
// registered and restores it when the reaction runs, so an `await` inside a
// green thread resumes with the thread it began in, for no allocation and no
// hook: AsyncLocalStorage's hooks add an id pair and a store to every promise
// (72 B each, four to a parked thread) and run JS for every promise made and
// every reaction run. N-API has no access to it, hence C++.
//
// Node 20's V8 (11.3) has the accessors on v8::Context; Node 22 moved them to
// v8::Isolate and Node 24 dropped the Context ones and uses the CPED itself
// for AsyncLocalStorage (AsyncContextFrame). The addon is one binary for all of
// them, so the symbols are looked up when it loads (a missing one would fail
// the whole load); without them nothing is exported and the hub keeps its
// AsyncLocalStorage.
#include <dlfcn.h>
#include <node_api.h>
#include <v8.h>

#include <cstring>

// Declared for evy.c in evy.h (C).
extern "C" napi_status evy_init_context(napi_env env, napi_value exports);


namespace {

// The member functions as plain functions of `this` (Itanium C++ ABI); a
// Local is one pointer, passed and returned in a register.
using GetFn = v8::Local<v8::Value> (*)(const v8::Context*);
using SetFn = void (*)(v8::Context*, v8::Local<v8::Value>);

GetFn get_fn = nullptr;
SetFn set_fn = nullptr;

// napi_value and Local<Value> are the same pointer (Node's js_native_api_v8.h).
inline v8::Local<v8::Value> ToLocal(napi_value v) {
  v8::Local<v8::Value> l;
  std::memcpy(static_cast<void*>(&l), &v, sizeof v);
  return l;
}

inline napi_value FromLocal(v8::Local<v8::Value> l) {
  napi_value v;
  std::memcpy(&v, static_cast<void*>(&l), sizeof v);
  return v;
}

// The slot is per V8 context, and a reaction keeps the slot of the context
// its `then` or `await` ran in. Code in a vm context (node:repl, which the
// backdoor runs) called from a green thread finds the thread in the main
// context's slot, and its awaits would keep the vm context's, empty: so a read
// from there copies the thread into the vm context, and a read in a reaction
// of the vm context, where the main slot is empty, takes it from there. (V8
// puts back the slot each reaction ran with, so what is copied lasts until
// the vm context's next reaction at most.)
napi_value ContextGet(napi_env env, napi_callback_info info) {
  v8::Isolate* isolate = v8::Isolate::GetCurrent();
  v8::Local<v8::Context> ctx = isolate->GetCurrentContext();
  v8::Local<v8::Value> v = get_fn(*ctx);
  v8::Local<v8::Context> entered = isolate->GetEnteredOrMicrotaskContext();
  if (!entered.IsEmpty() && entered != ctx) {
    if (v->IsUndefined()) {
      v = get_fn(*entered);
    } else if (get_fn(*entered) != v) {
      set_fn(*entered, v);
    }
  }
  return FromLocal(v);
}

napi_value ContextSet(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  if (napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr) != napi_ok || argc < 1) {
    napi_throw_type_error(env, nullptr, "contextSet needs a value");
    return nullptr;
  }
  v8::Local<v8::Context> ctx = v8::Isolate::GetCurrent()->GetCurrentContext();
  set_fn(*ctx, ToLocal(argv[0]));
  return nullptr;
}

}  // namespace

extern "C" napi_status evy_init_context(napi_env env, napi_value exports) {
  if (get_fn == nullptr || set_fn == nullptr) {
    get_fn = reinterpret_cast<GetFn>(dlsym(RTLD_DEFAULT, "_ZNK2v87Context36GetContinuationPreservedEmbedderDataEv"));
    set_fn = reinterpret_cast<SetFn>(
        dlsym(RTLD_DEFAULT, "_ZN2v87Context36SetContinuationPreservedEmbedderDataENS_5LocalINS_5ValueEEE"));
  }
  if (get_fn == nullptr || set_fn == nullptr) return napi_ok;  // not this Node: AsyncLocalStorage it is
  napi_property_descriptor props[] = {
      {"contextGet", nullptr, ContextGet, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"contextSet", nullptr, ContextSet, nullptr, nullptr, nullptr, napi_default, nullptr},
  };
  return napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
}
