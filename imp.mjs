const t0 = performance.now();
for (const m of process.argv.slice(2)) { const t = performance.now(); await import(m); process.stdout.write(`${(performance.now()-t).toFixed(1)}ms ${m.split('/').slice(-2).join('/')}  `); }
console.log(`| total ${(performance.now()-t0).toFixed(1)} since-origin ${performance.now().toFixed(1)}`);
