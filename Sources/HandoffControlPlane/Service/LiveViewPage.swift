/// The live view's page: plain HTML, CSS and JavaScript in one document, no build step and nothing fetched from
/// elsewhere. It polls `/api/live` every second; every text from the coordinator goes into the page through
/// `textContent`, never as markup.
enum LiveViewPage {
    static let html = #"""
        <!doctype html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <title>Handoff coordinator</title>
        <link rel="icon" href="data:,">
        <style>
          body { font: 14px system-ui, sans-serif; margin: 1.5em; color: #1d2430; background: #fafbfc; }
          h1 { font-size: 1.3em; margin: 0 0 .2em; }
          h2 { font-size: 1.05em; margin: 1.4em 0 .4em; }
          #status { color: #5a6473; }
          #status.stale { color: #b42318; }
          .totals span { display: inline-block; margin-right: 1.6em; }
          .totals b { font-size: 1.2em; }
          table { border-collapse: collapse; min-width: 40em; background: #fff; }
          th, td { padding: .25em .7em; border-bottom: 1px solid #e3e7ee; text-align: left; }
          th { background: #eef1f5; font-weight: 600; }
          td.num { text-align: right; font-variant-numeric: tabular-nums; }
          tr.lost td { color: #9aa3af; }
          .meter { display: inline-block; width: 6em; height: .6em; background: #e3e7ee; vertical-align: middle; }
          .meter i { display: block; height: 100%; background: #3b82f6; }
          canvas { background: #fff; border: 1px solid #e3e7ee; }
          .legend span { margin-right: 1.2em; }
          .legend i { display: inline-block; width: .8em; height: .8em; margin-right: .3em; vertical-align: -1px; }
        </style>
        </head>
        <body>
        <h1>Handoff coordinator</h1>
        <div id="status">connecting…</div>

        <h2>Requests</h2>
        <div class="totals" id="totals"></div>

        <h2>Time to first token, p50 of the last requests, by component</h2>
        <div class="legend" id="legend"></div>
        <canvas id="chart" width="900" height="240" data-points="0"></canvas>
        <div id="share"></div>

        <h2>Workers</h2>
        <table>
          <thead><tr><th>worker</th><th>role</th><th>state</th><th>node</th><th>free blocks</th><th>in flight</th>
          <th>queue</th><th>data planes</th><th>heartbeat</th></tr></thead>
          <tbody id="workers"></tbody>
        </table>

        <h2>Pairs</h2>
        <table>
          <thead><tr><th>prefill</th><th>decode</th><th>in flight</th><th>completed</th></tr></thead>
          <tbody id="pairs"></tbody>
        </table>

        <script>
        "use strict";
        const components = [
          ["queue", "#94a3b8"], ["prefill", "#3b82f6"], ["kv_transfer", "#f59e0b"],
          ["coordination", "#a855f7"], ["first_decode", "#10b981"],
        ];
        const history = [];
        const maxPoints = 120;
        let lastDone = -1;

        function cell(row, text, className) {
          const td = document.createElement("td");
          td.textContent = text;
          if (className) td.className = className;
          row.appendChild(td);
          return td;
        }

        function milliseconds(seconds) { return (seconds * 1000).toFixed(1) + " ms"; }

        function showTotals(totals) {
          const box = document.getElementById("totals");
          box.replaceChildren();
          for (const [label, value] of [["admitted", totals.admitted], ["done", totals.done],
              ["failed", totals.failed], ["expired", totals.expired], ["in flight", totals.in_flight],
              ["KV moved", (totals.kv_bytes / 1048576).toFixed(1) + " MiB"]]) {
            const span = document.createElement("span");
            const number = document.createElement("b");
            number.textContent = String(value);
            span.append(number, " " + label);
            box.appendChild(span);
          }
        }

        function showWorkers(workers) {
          const body = document.getElementById("workers");
          body.replaceChildren();
          for (const worker of workers) {
            const row = document.createElement("tr");
            row.className = worker.state;
            row.dataset.worker = worker.id;
            cell(row, worker.id);
            cell(row, worker.role);
            cell(row, worker.state === "lost" && worker.lost_reason ? "lost: " + worker.lost_reason : worker.state);
            cell(row, worker.node || "—");
            const free = cell(row, "", "num");
            const meter = document.createElement("span");
            meter.className = "meter";
            const fill = document.createElement("i");
            fill.style.width = (worker.total_blocks ? 100 * worker.free_blocks / worker.total_blocks : 0) + "%";
            meter.appendChild(fill);
            free.append(String(worker.free_blocks) + " / " + String(worker.total_blocks) + " ", meter);
            cell(row, String(worker.in_flight), "num");
            cell(row, String(worker.queue_depth), "num");
            cell(row, worker.offers.join(", ") || "—");
            cell(row, worker.seconds_since_heartbeat.toFixed(1) + " s ago", "num");
            body.appendChild(row);
          }
        }

        function showPairs(pairs) {
          const body = document.getElementById("pairs");
          body.replaceChildren();
          for (const pair of pairs) {
            const row = document.createElement("tr");
            cell(row, pair.prefill);
            cell(row, pair.decode);
            cell(row, String(pair.in_flight), "num");
            cell(row, String(pair.completed), "num");
            body.appendChild(row);
          }
        }

        function showLegend() {
          const legend = document.getElementById("legend");
          for (const [name, color] of components) {
            const span = document.createElement("span");
            const swatch = document.createElement("i");
            swatch.style.background = color;
            span.append(swatch, name);
            legend.appendChild(span);
          }
        }

        function drawChart() {
          const canvas = document.getElementById("chart");
          const context = canvas.getContext("2d");
          const width = canvas.width, height = canvas.height, left = 60, bottom = 20;
          context.clearRect(0, 0, width, height);
          const totals = history.map(point => components.reduce((sum, [name]) => sum + point[name], 0));
          const top = Math.max(0.001, ...totals) * 1.1;
          const step = (width - left - 10) / maxPoints;
          context.fillStyle = "#5a6473";
          context.font = "11px system-ui, sans-serif";
          for (let i = 0; i <= 4; i++) {
            const y = (height - bottom) * (1 - i / 4);
            context.fillText(milliseconds(top * i / 4), 2, Math.max(10, y));
            context.fillRect(left, y, width - left - 10, 1);
          }
          history.forEach((point, index) => {
            let base = 0;
            for (const [name, color] of components) {
              const value = point[name];
              const y0 = (height - bottom) * (1 - base / top), y1 = (height - bottom) * (1 - (base + value) / top);
              context.fillStyle = color;
              context.fillRect(left + index * step, y1, Math.max(1, step - 1), y0 - y1);
              base += value;
            }
          });
          canvas.dataset.points = String(history.length);
        }

        function showShare(ttft) {
          const share = document.getElementById("share");
          if (!ttft.ttft || ttft.ttft.p50 <= 0) { share.textContent = "no request has finished yet"; return; }
          const kv = ttft.kv_transfer ? ttft.kv_transfer.p50 : 0;
          share.textContent = "TTFT p50 " + milliseconds(ttft.ttft.p50) + ", p90 " + milliseconds(ttft.ttft.p90) +
            ", p99 " + milliseconds(ttft.ttft.p99) + "; KV transfer p50 " + milliseconds(kv) + " (" +
            (100 * kv / ttft.ttft.p50).toFixed(1) + "% of the TTFT p50)";
        }

        async function refresh() {
          const status = document.getElementById("status");
          try {
            const response = await fetch("api/live", { cache: "no-store" });
            if (!response.ok) throw new Error("HTTP " + response.status);
            const live = await response.json();
            showTotals(live.totals);
            showWorkers(live.workers);
            showPairs(live.pairs);
            showShare(live.ttft);
            if (live.totals.done !== lastDone && live.ttft.ttft) {
              lastDone = live.totals.done;
              const point = {};
              for (const [name] of components) point[name] = live.ttft[name] ? live.ttft[name].p50 : 0;
              history.push(point);
              if (history.length > maxPoints) history.shift();
              drawChart();
            }
            status.className = "";
            status.textContent = live.workers.filter(w => w.state === "live").length + " live workers; updated " +
              new Date().toLocaleTimeString();
          } catch (error) {
            status.className = "stale";
            status.textContent = "coordinator unreachable (" + error.message + "); retrying";
          }
        }

        showLegend();
        drawChart();
        refresh();
        setInterval(refresh, 1000);
        </script>
        </body>
        </html>
        """#
}
