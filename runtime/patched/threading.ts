// evy/patched/threading: green Lock, RLock, Condition, local (in progress).
export {};
