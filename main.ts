console.log("cubic");
