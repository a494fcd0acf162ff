// React.lazy with a preload handle, for route pages. A plain lazy component suspends on its first
// render even when its chunk is already loaded, and React then holds the revealed page back for
// up to 300 ms after the fallback (its Suspense throttle). Pages made here render directly once
// their module has arrived, so a page whose code was fetched during start-up never shows a fallback.
import { createElement, lazy, type ComponentProps, type ComponentType } from 'react';

export type LazyPage<T extends ComponentType<any>> = ComponentType<ComponentProps<T>> & { preload: () => Promise<unknown> };

export function lazyPage<T extends ComponentType<any>>(load: () => Promise<{ default: T }>): LazyPage<T> {
  let loaded: T | undefined;
  let pending: Promise<{ default: T }> | undefined;
  const preload = () =>
    (pending ??= load().then((mod) => {
      loaded = mod.default;
      return mod;
    }));
  const Lazy = lazy(preload);
  const Page = (props: ComponentProps<T>) => createElement(loaded ?? Lazy, props);
  Page.preload = preload;
  return Page;
}
