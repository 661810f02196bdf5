/** The part of autocannon's API the bench uses (the package ships no types). */
declare module 'autocannon' {
  namespace autocannon {
    interface Options {
      url: string;
      method?: string;
      headers?: Record<string, string>;
      body?: string;
      connections?: number;
      duration?: number;
      maxOverallRequests?: number;
      timeout?: number;
    }
    interface Result {
      duration: number;
      errors: number;
      timeouts: number;
      requests: { total: number; average: number };
      latency: { p50: number; p99: number; average: number };
      statusCodeStats?: Record<string, { count: number }>;
    }
  }
  function autocannon(options: autocannon.Options): Promise<autocannon.Result>;
  export default autocannon;
}
