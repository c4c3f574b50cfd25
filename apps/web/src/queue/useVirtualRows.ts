import { useCallback, useEffect, useRef, useState, type UIEvent } from 'react';

/**
 * The slice of a fixed-height list inside a scroll container that is on screen, plus a margin.
 * State changes only when the first visible row or the viewport's height in rows changes, so
 * scrolling within a row costs no render.
 */
export function useVirtualRows(count: number, rowHeight: number, overscan = 6) {
  const containerRef = useRef<HTMLDivElement>(null);
  const [firstVisible, setFirstVisible] = useState(0);
  const [visibleRows, setVisibleRows] = useState(16);

  useEffect(() => {
    const container = containerRef.current;
    if (!container) return;
    const observer = new ResizeObserver(() => {
      setVisibleRows(Math.ceil(container.clientHeight / rowHeight) + 1);
      setFirstVisible(Math.floor(container.scrollTop / rowHeight));
    });
    observer.observe(container);
    return () => observer.disconnect();
  }, [rowHeight]);

  const onScroll = useCallback(
    (event: UIEvent<HTMLElement>) => setFirstVisible(Math.floor(event.currentTarget.scrollTop / rowHeight)),
    [rowHeight],
  );

  const start = Math.max(0, Math.min(firstVisible, count) - overscan);
  const end = Math.min(count, firstVisible + visibleRows + overscan);
  return {
    containerRef,
    onScroll,
    start,
    end,
    paddingTop: start * rowHeight,
    paddingBottom: (count - end) * rowHeight,
  };
}
