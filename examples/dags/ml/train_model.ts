/**
 * Fan-out / fan-in: prepare data, train three models in parallel, pick the best one.
 * Run it with a conf such as {"epochs": 5} to override the params.
 */
import { dag } from '@updraft/sdk';

export default dag(
  {
    id: 'train_model',
    team: 'ml',
    description: 'Train candidate models in parallel and promote the best.',
    tags: ['example', 'ml'],
    schedule: null,
    params: { epochs: 3 },
    maxActiveTasks: 8,
  },
  (d) => {
    const prepare = d.fn('prepare_data', async (ctx) => {
      ctx.log('splitting the data set');
      return { train: 800, test: 200 };
    });
    const candidates = ['linear', 'tree', 'boosted'].map((model, i) =>
      d.fn(
        `train_${model}`,
        async (ctx) => {
          const data = await ctx.pull(prepare);
          const epochs = Number(ctx.params.epochs ?? 3);
          const score = 0.7 + i * 0.05 + epochs * 0.01;
          ctx.log(
            `trained ${model} on ${data?.train} rows for ${epochs} epochs: score ${score.toFixed(2)}`,
          );
          return { model, score };
        },
        { upstream: [prepare], retries: 1, retryDelay: '5s' },
      ),
    );
    d.fn(
      'pick_best',
      async (ctx) => {
        const results = await Promise.all(candidates.map((c) => ctx.pull(c)));
        const best = results.filter((r) => r !== undefined).sort((a, b) => b.score - a.score)[0];
        ctx.log(`best model: ${best?.model}`);
        return best;
      },
      { upstream: candidates },
    );
  },
);
